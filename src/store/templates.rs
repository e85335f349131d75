//! `.nexo/templates/`: a repository's workflow templates, one
//! `<name>.yaml` each, read never through a link and never past the size
//! limit (a 10 MB file is refused by its size, not read).

use std::fs::OpenOptions;
use std::io::Read;
use std::path::Path;

use crate::core::error::{Error, Result};
use crate::core::layout::{TEMPLATES_DIR, template_rel};
use crate::core::template::{self, MAX_TEMPLATE_BYTES, Source};
use crate::store::{Store, nofollow};

/// The file extension of a template.
pub const EXTENSION: &str = ".yaml";

impl Store {
    /// The names of the templates here: each `<name>.yaml` in
    /// `.nexo/templates/` whose name is a plain name, sorted. Links are
    /// left out (doctor names them).
    pub fn template_names(&self) -> Result<Vec<String>> {
        Ok(self
            .template_entries()?
            .into_iter()
            .filter(|(_, link)| !link)
            .filter_map(|(file, _)| file.strip_suffix(EXTENSION).map(str::to_string))
            .filter(|name| template::check_name(name).is_ok())
            .collect())
    }

    /// Every entry of `.nexo/templates/`, with whether it is a link.
    pub fn template_entries(&self) -> Result<Vec<(String, bool)>> {
        nofollow::read_dir(self.root(), Path::new(TEMPLATES_DIR))
    }

    /// Template `name`'s file, if there is one.
    pub fn read_template(&self, name: &str) -> Result<Option<Source>> {
        template::check_name(name)?;
        let rel = template_rel(name);
        let Some(file) = nofollow::open_read(self.root(), Path::new(&rel))? else {
            return Ok(None);
        };
        let path = self.root().join(&rel);
        let len = file
            .metadata()
            .map_err(|e| Error::io("inspect", &path, e))?
            .len();
        if len > MAX_TEMPLATE_BYTES as u64 {
            return Err(crate::core::template::yaml::too_large(&rel, len as usize));
        }
        let mut bytes = Vec::new();
        file.take(MAX_TEMPLATE_BYTES as u64 + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| Error::io("read", &path, e))?;
        source(name, rel, bytes).map(Some)
    }
}

impl Store {
    /// Writes the new file `rel` under `.nexo/`, never over one that is
    /// there, never through a link, and flushed.
    pub fn create_file(&self, rel: &str, bytes: &[u8]) -> Result<()> {
        let rel = Path::new(rel);
        if let Some(dir) = rel.parent() {
            nofollow::create_dir_all(self.root(), dir)?;
        }
        let path = self.root().join(rel);
        let mut file = nofollow::open(
            self.root(),
            rel,
            OpenOptions::new().write(true).create_new(true),
        )?
        .ok_or_else(|| Error::io("create", &path, std::io::ErrorKind::NotFound.into()))?;
        std::io::Write::write_all(&mut file, bytes).map_err(|e| Error::io("write", &path, e))?;
        file.sync_all().map_err(|e| Error::io("flush", &path, e))
    }
}

/// A template's bytes as a [`Source`]: UTF-8, within the size limit.
pub fn source(name: &str, place: String, bytes: Vec<u8>) -> Result<Source> {
    if bytes.len() > MAX_TEMPLATE_BYTES {
        return Err(crate::core::template::yaml::too_large(&place, bytes.len()));
    }
    let text = String::from_utf8(bytes).map_err(|_| {
        Error::invalid(format!(
            "{place}: not UTF-8: a template is a UTF-8 YAML file"
        ))
    })?;
    Ok(Source {
        name: name.to_string(),
        place,
        text,
    })
}
