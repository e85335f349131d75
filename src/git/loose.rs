//! Writing loose objects with one compressor for the whole process.
//!
//! gix's loose-object writer makes a new zlib stream for every object,
//! and setting one up (allocating and clearing its windows and tables)
//! cost more than compressing the few hundred bytes of a view or a tree:
//! about 55 µs an object, 8 objects a write, an eighth of a small write.
//! Here one stream is reset between objects, and an object under 4 KiB
//! (most of a write's: views, small trees, the commit) is stored in a
//! zlib stream without compression, which takes the same disk block and
//! no zlib state. Otherwise the object is what gix or git would write:
//! `<kind> <size>\0<data>`, zlib-compressed at git's loose level
//! (`core.looseCompression`, else `core.compression`, else 1), in
//! `objects/xx/<rest>`, written aside and renamed into place.

use std::io::Write;
use std::sync::Mutex;

use gix::ObjectId;
use gix_zlib::stream::deflate::{Compress, FlushCompress};
use gix_zlib::{Compression, Status};

use super::{Repo, git_err};
use crate::core::error::{Error, Result};

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
        self.write_loose(object.kind(), &encoded(object)?, None)
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
        // As gix does before writing: a pack added since the repository was
        // opened is not looked for, at worst costing a duplicate.
        if self.repo.objects.exists_without_refresh(&id) {
            return Ok(id);
        }
        let mut slot = self
            .loose
            .compress
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if slot.is_none() {
            *slot = Some((Compress::new(self.loose_level()?), Vec::new()));
        }
        let (compress, out) = slot.as_mut().expect("made above");
        out.clear();
        let header = gix::objs::encode::loose_header(kind, data.len() as u64);
        if header.len() + data.len() < STORE_BELOW {
            stored(&[&header, data], out);
        } else {
            compress.reset();
            deflate(compress, &[&header, data], out)?;
        }
        let objects = self.repo.objects.store_ref().path().to_path_buf();
        let hex = id.to_hex().to_string();
        let dir = objects.join(&hex[..2]);
        if let Err(e) = std::fs::create_dir(&dir)
            && e.kind() != std::io::ErrorKind::AlreadyExists
        {
            return Err(Error::io("create", &dir, e));
        }
        let mut builder = tempfile::Builder::new();
        // Objects are read-only, as git makes them. Written aside in their
        // own folder under git's name, as git does: what a kill leaves is
        // a file `git prune` knows and clears, and a rename within one
        // folder takes no lock of the whole file system's, as a rename
        // between two folders does on Linux.
        #[cfg(unix)]
        builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o444));
        let mut tmp = builder
            .prefix("tmp_obj_")
            .tempfile_in(&dir)
            .map_err(|e| Error::io("create a temporary file in", &dir, e))?;
        tmp.write_all(out)
            .map_err(|e| Error::io("write", tmp.path(), e))?;
        let path = dir.join(&hex[2..]);
        // Another process that wrote the same object first wrote the same
        // bytes: replacing them is harmless, as for git.
        tmp.persist(&path)
            .map_err(|e| Error::io("move into place", &path, e.error))?;
        Ok(id)
    }

    /// git's level for loose objects: `core.looseCompression`, else
    /// `core.compression`, else 1. A value git would refuse is refused,
    /// before anything is written (`plan_commit` asks first).
    pub(super) fn loose_level(&self) -> Result<Compression> {
        let config = self.repo.config_snapshot();
        for key in ["core.looseCompression", "core.compression"] {
            let value = config.try_integer(key).map_err(|e| {
                Error::repo(format!(
                    "{key} is not a number ({e}); git would refuse it too. Nothing was written"
                ))
                .with_hint(format!("set it to a level from 0 to 9: git config {key} 1"))
            })?;
            let Some(level) = value else { continue };
            return match level {
                // zlib's default level, as in git.
                -1 => Ok(Compression::DEFAULT),
                _ => i32::try_from(level)
                    .ok()
                    .and_then(Compression::new)
                    .ok_or_else(|| {
                        Error::repo(format!(
                            "{key} is {level}: git accepts -1 (zlib's default) or 0 to 9 and refuses anything else. Nothing was written"
                        ))
                        .with_hint(format!("git config {key} 1"))
                    }),
            };
        }
        Ok(Compression::BEST_SPEED)
    }
}

/// Objects smaller than this are stored in their zlib stream without
/// compression: a loose object takes a whole file-system block (4 KiB)
/// either way, and clearing zlib's tables for them cost more than the
/// rest of writing them. Packing recompresses them.
const STORE_BELOW: usize = 4096;

/// `parts` (less than 64 KiB together), in order, as a zlib stream of one
/// stored block (RFC 1950 and 1951), appended to `out`.
fn stored(parts: &[&[u8]], out: &mut Vec<u8>) {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    let len = u16::try_from(len).expect("a stored block holds less than 64 KiB");
    // CMF: deflate with a 32 KiB window; FLG: fastest, no dictionary, and
    // 0x7801 is a multiple of 31 as the header check requires.
    out.extend_from_slice(&[0x78, 0x01]);
    // The last block, stored: its length and the length's complement.
    out.push(0x01);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&(!len).to_le_bytes());
    let mut adler = Adler32::default();
    for p in parts {
        out.extend_from_slice(p);
        adler.update(p);
    }
    out.extend_from_slice(&adler.value().to_be_bytes());
}

/// The Adler-32 checksum zlib streams end with.
struct Adler32 {
    a: u32,
    b: u32,
}

impl Default for Adler32 {
    fn default() -> Self {
        Adler32 { a: 1, b: 0 }
    }
}

impl Adler32 {
    fn update(&mut self, data: &[u8]) {
        // 5552 bytes is the most that can be summed before the modulo
        // without overflowing 32 bits.
        for chunk in data.chunks(5552) {
            for &byte in chunk {
                self.a += u32::from(byte);
                self.b += self.a;
            }
            self.a %= 65521;
            self.b %= 65521;
        }
    }

    fn value(&self) -> u32 {
        (self.b << 16) | self.a
    }
}

/// Compresses `parts`, in order, as one zlib stream appended to `out`.
pub(super) fn deflate(compress: &mut Compress, parts: &[&[u8]], out: &mut Vec<u8>) -> Result<()> {
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

/// `object` in git's encoding, as its id is hashed over.
pub(super) fn encoded(object: &dyn gix::objs::WriteTo) -> Result<Vec<u8>> {
    let mut data = Vec::with_capacity(object.size() as usize);
    object
        .write_to(&mut data)
        .map_err(|e| git_err("cannot encode an object", e))?;
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inflate(stream: &[u8], len: usize) -> Vec<u8> {
        let mut d = gix_zlib::Decompress::new();
        let mut buf = vec![0u8; len + 64];
        let status = d
            .decompress(stream, &mut buf, gix_zlib::FlushDecompress::Finish)
            .unwrap();
        assert_eq!(status, Status::StreamEnd);
        buf.truncate(d.total_out() as usize);
        buf
    }

    #[test]
    fn stored_streams_inflate_back_with_their_checksum() {
        for data in [
            &b""[..],
            b"tree 0\0",
            &vec![0xffu8; 4000],
            &(0..=255u8).cycle().take(6000).collect::<Vec<_>>(),
        ] {
            let mut out = Vec::new();
            stored(&[b"blob 9\0", data], &mut out);
            let back = inflate(&out, data.len() + 7);
            assert_eq!(&back[..7], b"blob 9\0");
            assert_eq!(&back[7..], data);
        }
        // The known value for "Wikipedia".
        let mut a = Adler32::default();
        a.update(b"Wikipedia");
        assert_eq!(a.value(), 0x11E6_0398);
        let mut out = Vec::new();
        stored(&[b"x"], &mut out);
        let mut damaged = out.clone();
        *damaged.last_mut().unwrap() ^= 1;
        let mut d = gix_zlib::Decompress::new();
        let mut buf = [0u8; 16];
        assert!(
            d.decompress(&damaged, &mut buf, gix_zlib::FlushDecompress::Finish)
                .is_err()
        );
    }

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
