//! The journal file's layout: its records, then zero bytes written ahead of them. A batch that
//! overwrites zeros already on disk leaves the file's size and blocks as they were, so its
//! fdatasync flushes data alone; an append makes every fdatasync commit the file system's own
//! journal as well (about half again as slow and twice the CPU on the disks measured, see
//! BENCHMARKS.md). The zeros are written together with the batch that first needs them, a few
//! times the journal's length at a time up to `MAX_AHEAD`, so a quiet tenant's file stays small.
//! JSON never holds a zero byte, so the records end where the zeros begin.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

/// The most zero bytes written ahead at once. The batch that writes them fdatasyncs them too, and
/// every tenant's fdatasync on the same disk waits while they reach stable storage: a mebibyte
/// at a time held those for milliseconds (BENCHMARKS.md, the twentieth round).
const MAX_AHEAD: u64 = 128 * 1024;
/// The least: one page.
const MIN_AHEAD: u64 = 4096;

static ZEROS: [u8; 64 * 1024] = [0; 64 * 1024];

/// Where the records end in one journal file and how far the file goes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Extent {
    /// The end of the last complete record: where the next batch is written.
    pub end: u64,
    /// The file's length; the bytes from `end` to here are zero.
    pub len: u64,
}

impl Extent {
    /// Writes `bytes` at the end of the records, and first, when they reach past the zeros, more
    /// zeros from there on: a full disk then refuses the zeros, before any of the batch is in the
    /// file. Answers the extent once they are written (not yet synced).
    pub fn write(self, file: &File, bytes: &[u8]) -> io::Result<Extent> {
        let end = self.end + bytes.len() as u64;
        let mut len = self.len;
        if end > self.len {
            let ahead = end.clamp(MIN_AHEAD, MAX_AHEAD);
            len = (end + ahead).next_multiple_of(MIN_AHEAD);
            let mut at = self.len.max(self.end);
            while at < len {
                let n = (len - at).min(ZEROS.len() as u64);
                file.write_all_at(&ZEROS[..n as usize], at)?;
                at += n;
            }
        }
        file.write_all_at(bytes, self.end)?;
        Ok(Extent { end, len })
    }
}

/// What a journal file read back holds: its written part, the complete records in it, and
/// whether anything but zeros follows them (a batch cut short by a crash, never acknowledged).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    /// The end of the last complete record.
    pub complete: usize,
    /// Bytes after `complete` that are not zeros written ahead: a torn batch, to be cut off.
    pub torn: usize,
}

impl Written {
    /// Reads a journal file's bytes: the records end at the last newline before the first zero.
    pub fn of(bytes: &[u8]) -> Self {
        let complete = memchr::memrchr(b'\n', &bytes[..before_zeros(bytes)]).map_or(0, |i| i + 1);
        let torn = bytes[complete..]
            .iter()
            .rposition(|b| *b != 0)
            .map_or(0, |i| i + 1);
        Self { complete, torn }
    }
}

/// Where the zeros written ahead begin (the file's length when there are none).
fn before_zeros(bytes: &[u8]) -> usize {
    memchr::memchr(0, bytes).unwrap_or(bytes.len())
}

/// The complete records of a journal file's bytes, without the zeros written ahead of them
/// (and without a torn last batch): what tools reading a journal should read.
pub fn records_of(bytes: &[u8]) -> &[u8] {
    &bytes[..Written::of(bytes).complete]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_end_where_the_zeros_begin() {
        assert_eq!(
            Written::of(b"{\"a\":1}\n{\"b\"\0\0\0"),
            Written {
                complete: 8,
                torn: 4
            }
        );
        assert_eq!(
            Written::of(b"{\"a\":1}\n\0\0"),
            Written {
                complete: 8,
                torn: 0
            }
        );
        assert_eq!(
            Written::of(b""),
            Written {
                complete: 0,
                torn: 0
            }
        );
        // A later page of a cut batch that reached the disk before an earlier one.
        let late = Written::of(b"{\"a\":1}\n\0\0{\"c\":3}\n\0");
        assert_eq!((late.complete, late.torn), (8, 10));
        assert_eq!(records_of(b"{\"a\":1}\n{\"b\"\0"), b"{\"a\":1}\n");
    }

    #[test]
    fn zeros_are_written_ahead_and_overwritten_in_place() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = File::create(dir.path().join("journal.jsonl")).expect("create");
        let first = Extent::default()
            .write(&file, b"{\"seq\":1}\n")
            .expect("write");
        assert_eq!(first.end, 10);
        assert_eq!(first.len, MIN_AHEAD + MIN_AHEAD);
        assert_eq!(file.metadata().expect("meta").len(), first.len);
        let second = first.write(&file, b"{\"seq\":2}\n").expect("write");
        assert_eq!((second.end, second.len), (20, first.len));
        let bytes = std::fs::read(dir.path().join("journal.jsonl")).expect("read");
        assert_eq!(records_of(&bytes), b"{\"seq\":1}\n{\"seq\":2}\n");
        assert!(bytes[20..].iter().all(|b| *b == 0));
        // A large journal grows by at most `MAX_AHEAD` at a time.
        let big = Extent {
            end: 10 * MAX_AHEAD,
            len: 10 * MAX_AHEAD,
        }
        .write(&file, b"x\n")
        .expect("write");
        assert_eq!(big.len, (11 * MAX_AHEAD + 2).next_multiple_of(MIN_AHEAD));
    }
}
