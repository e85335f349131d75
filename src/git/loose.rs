//! Writing loose objects with one compressor for the whole process.
//!
//! gix's loose-object writer makes a new zlib stream for every object,
//! and setting one up (allocating and clearing its windows and tables)
//! cost more than compressing the few hundred bytes of a view or a tree:
//! about 55 µs an object, 8 objects a write, an eighth of a small write.
//! Here one stream is reset between objects. The object is the same as
//! gix or git would write: `<kind> <size>\0<data>`, zlib-compressed at
//! git's loose level (`core.looseCompression`, else `core.compression`,
//! else 1), in `objects/xx/<rest>`, written aside and renamed into place.

use std::io::Write;
use std::sync::Mutex;

use gix::ObjectId;
use gix_zlib::stream::deflate::{Compress, FlushCompress};
use gix_zlib::{Compression, Status};

use super::{Repo, git_err};
use crate::error::{Error, Result};

/// The process's compressor, made on first use.
pub(super) struct Loose {
    compress: Mutex<Option<(Compress, Vec<u8>)>>,
}

impl Loose {
    pub(super) fn new() -> Loose {
        Loose {
            compress: Mutex::new(None),
        }
    }
}

impl Repo {
    /// Writes `object` as a loose object unless the repository has it.
    pub(super) fn write_object(&self, object: &dyn gix::objs::WriteTo) -> Result<ObjectId> {
        let mut data = Vec::with_capacity(object.size() as usize);
        object
            .write_to(&mut data)
            .map_err(|e| git_err("cannot encode an object", e))?;
        self.write_loose(object.kind(), &data, None)
    }

    /// Writes `data` as a loose object of `kind` (whose id is `known`, if
    /// already computed) unless the repository has it.
    pub(super) fn write_loose(
        &self,
        kind: gix::objs::Kind,
        data: &[u8],
        known: Option<ObjectId>,
    ) -> Result<ObjectId> {
        let id = match known {
            Some(id) => id,
            None => gix::objs::compute_hash(self.repo.object_hash(), kind, data)
                .map_err(|e| git_err("cannot hash an object", e))?,
        };
        if self.repo.has_object(id) {
            return Ok(id);
        }
        let mut slot = self
            .loose
            .compress
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let (compress, out) =
            slot.get_or_insert_with(|| (Compress::new(self.loose_level()), Vec::new()));
        compress.reset();
        out.clear();
        let header = gix::objs::encode::loose_header(kind, data.len() as u64);
        deflate(compress, &[&header, data], out)?;
        let objects = self.repo.objects.store_ref().path().to_path_buf();
        let hex = id.to_hex().to_string();
        let dir = objects.join(&hex[..2]);
        if let Err(e) = std::fs::create_dir(&dir)
            && e.kind() != std::io::ErrorKind::AlreadyExists
        {
            return Err(Error::io("create", &dir, e));
        }
        let mut builder = tempfile::Builder::new();
        // Objects are read-only, as git makes them.
        #[cfg(unix)]
        builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o444));
        let mut tmp = builder
            .tempfile_in(&objects)
            .map_err(|e| Error::io("create a temporary file in", &objects, e))?;
        tmp.write_all(out)
            .map_err(|e| Error::io("write", tmp.path(), e))?;
        let path = dir.join(&hex[2..]);
        // Another process that wrote the same object first wrote the same
        // bytes: replacing them is harmless, as for git.
        tmp.persist(&path)
            .map_err(|e| Error::io("move into place", &path, e.error))?;
        Ok(id)
    }

    /// git's level for loose objects.
    fn loose_level(&self) -> Compression {
        let config = self.repo.config_snapshot();
        let level = config
            .integer("core.looseCompression")
            .or_else(|| config.integer("core.compression"))
            .and_then(|l| i32::try_from(l).ok());
        match level {
            // -1 is zlib's default level, as in git.
            Some(-1) => Compression::DEFAULT,
            Some(l) => Compression::new(l).unwrap_or(Compression::BEST_SPEED),
            None => Compression::BEST_SPEED,
        }
    }
}

/// Compresses `parts`, in order, as one zlib stream appended to `out`.
fn deflate(compress: &mut Compress, parts: &[&[u8]], out: &mut Vec<u8>) -> Result<()> {
    let failed = |e: &dyn std::fmt::Display| Error::repo(format!("cannot compress an object: {e}"));
    let mut chunk = [0u8; 16 * 1024];
    for (i, part) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        let mut input = *part;
        loop {
            let before_in = compress.total_in();
            let before_out = compress.total_out();
            let flush = if last {
                FlushCompress::Finish
            } else {
                FlushCompress::None
            };
            let status = compress
                .compress(input, &mut chunk, flush)
                .map_err(|e| failed(&e))?;
            let read = (compress.total_in() - before_in) as usize;
            let wrote = (compress.total_out() - before_out) as usize;
            out.extend_from_slice(&chunk[..wrote]);
            input = &input[read..];
            let done = match status {
                Status::StreamEnd => true,
                // Without Finish, the part is done once it is all read and
                // the output buffer was not filled.
                _ if !last => input.is_empty() && wrote < chunk.len(),
                Status::Ok => false,
                Status::BufError if wrote == 0 && read == 0 => {
                    return Err(failed(&"zlib made no progress"));
                }
                Status::BufError => false,
            };
            if done {
                break;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_compressor_makes_streams_that_inflate_back() {
        let mut compress = Compress::new(Compression::BEST_SPEED);
        for data in [
            &b""[..],
            b"small",
            &vec![b'x'; 100_000],
            &(0..=255u8).cycle().take(70_000).collect::<Vec<_>>(),
        ] {
            compress.reset();
            let mut out = Vec::new();
            deflate(&mut compress, &[b"blob 5\0", data], &mut out).unwrap();
            let mut back = Vec::new();
            let mut d = gix_zlib::Decompress::new();
            let mut buf = vec![0u8; data.len() + 64];
            let (_, status) = (
                0,
                d.decompress(&out, &mut buf, gix_zlib::FlushDecompress::Finish)
                    .unwrap(),
            );
            assert_eq!(status, Status::StreamEnd);
            back.extend_from_slice(&buf[..d.total_out() as usize]);
            assert_eq!(&back[..7], b"blob 5\0");
            assert_eq!(&back[7..], data);
        }
    }
}
