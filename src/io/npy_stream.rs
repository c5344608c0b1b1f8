//! A `.npy` matrix written while it is computed.
//!
//! An 8N²-byte Gram matrix takes about as long to write and make durable as to compute. With
//! [`NpyMatrixFile::fill`] the computation reports its finished leading columns and a writer
//! thread copies them to the file and hands them to the disk at once (`sync_file_range` on
//! Linux), so that the write-out overlaps the rest of the computation and the final fsync has
//! little left to wait for. Like every other writer (see [`super::write_atomic`]) the data go to a
//! hidden temporary file first, which [`NpyMatrixFile::finish`] fsyncs and renames over the
//! destination; dropping the value unfinished removes the temporary file. The file is the one
//! [`super::write_npy`] writes (Fortran order).

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use faer::{MatMut, MatRef};

use super::atomic::{sync_parent, temp_path};
use super::npy::npy_header;
use crate::{Error, Result};

/// The writer copies finished columns in runs of at least this many bytes (fewer system calls).
const RUN_BYTES: usize = 1 << 22;

/// A `rows × cols` `f64` matrix in memory that becomes a `.npy` file at `path`.
pub struct NpyMatrixFile {
    path: PathBuf,
    tmp: PathBuf,
    file: Option<File>,
    header_len: u64,
    rows: usize,
    cols: usize,
    /// The matrix, column after column.
    data: Vec<f64>,
    /// Data bytes already in the file.
    written: usize,
}

impl NpyMatrixFile {
    /// A zero `rows × cols` matrix to be written to `path`; refuses, with the bytes needed, a
    /// matrix that does not fit in memory.
    pub fn create(path: &Path, rows: usize, cols: usize) -> Result<Self> {
        let len = rows.checked_mul(cols).ok_or_else(|| {
            Error::Mismatch(format!("a {rows}×{cols} matrix has too many entries"))
        })?;
        crate::memory::ensure_fits("the matrix to be written", len as u64 * 8)?;
        let tmp = temp_path(path)?;
        let header = npy_header(rows, cols);
        let mut file = File::create(&tmp).map_err(|e| Error::write(path, e))?;
        let mut this = NpyMatrixFile {
            path: path.to_path_buf(),
            tmp,
            file: None,
            header_len: header.len() as u64,
            rows,
            cols,
            // Zeroed pages straight from the system (no fill pass); they are touched first by
            // the threads that compute them.
            data: vec![0.0; len],
            written: 0,
        };
        file.write_all(&header).map_err(|e| Error::write(path, e))?;
        this.file = Some(file);
        advise_huge_pages(&this.data);
        Ok(this)
    }

    /// Runs `compute` on the matrix. `compute` calls `ready(c)` whenever the leading c columns are
    /// final, with c increasing, and must not change them afterwards; a writer thread writes them
    /// out meanwhile. Columns not reported are written when `compute` returns.
    pub fn fill(
        &mut self,
        compute: impl FnOnce(MatMut<'_, f64>, &(dyn Fn(usize) + Sync)) -> Result<()>,
    ) -> Result<()> {
        let (rows, cols) = (self.rows, self.cols);
        let file = self.file.as_ref().expect("the file is open until finished");
        let (offset, already) = (self.header_len, self.written);
        let base = SharedData(self.data.as_mut_ptr());
        let (tx, rx) = mpsc::channel::<usize>();
        let (computed, written) = std::thread::scope(|s| {
            let writer = s.spawn(move || -> std::io::Result<usize> {
                let data = base;
                let mut done = already;
                let mut ready = already;
                for columns in rx {
                    ready = ready.max(columns * rows * 8);
                    if ready - done >= RUN_BYTES {
                        write_run(file, data, offset, done, ready)?;
                        done = ready;
                    }
                }
                Ok(done)
            });
            // SAFETY: `data` holds rows·cols f64 column after column, owned by `self` for the
            // whole scope; the writer only reads columns `compute` has reported final, which it
            // no longer writes, so the two never touch the same entry at the same time.
            let k = unsafe { MatMut::from_raw_parts_mut(base.0, rows, cols, 1, rows as isize) };
            let notify = move |c: usize| {
                let _ = tx.send(c);
            };
            let computed = compute(k, &notify);
            drop(notify);
            (computed, writer.join())
        });
        computed?;
        let done = match written {
            Ok(Ok(done)) => done,
            Ok(Err(e)) => return Err(Error::write(&self.path, e)),
            Err(panic) => std::panic::resume_unwind(panic),
        };
        let total = self.data.len() * 8;
        if done < total {
            write_run(file, base, offset, done, total).map_err(|e| Error::write(&self.path, e))?;
        }
        self.written = total;
        Ok(())
    }

    /// The matrix.
    pub fn matrix(&self) -> MatRef<'_, f64> {
        MatRef::from_column_major_slice(&self.data, self.rows, self.cols)
    }

    /// Writes what [`Self::fill`] has not, makes the file durable and moves it to its path.
    pub fn finish(mut self) -> Result<()> {
        let total = self.data.len() * 8;
        let file = self.file.take().expect("the file is open until finished");
        if self.written < total {
            let base = SharedData(self.data.as_mut_ptr());
            write_run(&file, base, self.header_len, self.written, total)
                .map_err(|e| Error::write(&self.path, e))?;
        }
        file.sync_all()
            .and_then(|()| std::fs::rename(&self.tmp, &self.path))
            .map_err(|e| Error::write(&self.path, e))?;
        sync_parent(&self.path);
        self.tmp = PathBuf::new();
        Ok(())
    }
}

impl Drop for NpyMatrixFile {
    fn drop(&mut self) {
        if !self.tmp.as_os_str().is_empty() {
            self.file = None;
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// The matrix's storage, read by the writer thread while other columns are computed.
#[derive(Clone, Copy)]
struct SharedData(*mut f64);
// SAFETY: the writer reads only entries the computation no longer writes (see `fill`).
unsafe impl Send for SharedData {}

/// Writes data bytes `from..to` of the matrix at their place in the file (little-endian f64, as in
/// memory on every platform this builds for) and starts their write-back to the disk.
fn write_run(
    file: &File,
    data: SharedData,
    offset: u64,
    from: usize,
    to: usize,
) -> std::io::Result<()> {
    // SAFETY: `from..to` lies inside the matrix's rows·cols·8 bytes, which are final (see `fill`).
    let bytes = unsafe { std::slice::from_raw_parts(data.0.cast::<u8>().add(from), to - from) };
    write_at(file, bytes, offset + from as u64)?;
    start_write_back(file, offset + from as u64, (to - from) as u64);
    Ok(())
}

#[cfg(unix)]
fn write_at(file: &File, bytes: &[u8], at: u64) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    file.write_all_at(bytes, at)
}

#[cfg(not(unix))]
fn write_at(file: &File, bytes: &[u8], at: u64) -> std::io::Result<()> {
    use std::io::{Seek, SeekFrom};
    let mut f = file;
    f.seek(SeekFrom::Start(at))?;
    f.write_all(bytes)
}

/// Starts writing `len` bytes at `at` back to the disk without waiting (best effort: the final
/// fsync writes whatever this does not).
#[cfg(target_os = "linux")]
fn start_write_back(file: &File, at: u64, len: u64) {
    use std::os::fd::AsRawFd;
    // SAFETY: plain system call on an open descriptor; its failure is harmless (see above).
    unsafe {
        libc::sync_file_range(
            file.as_raw_fd(),
            at as libc::off64_t,
            len as libc::off64_t,
            libc::SYNC_FILE_RANGE_WRITE,
        );
    }
}

#[cfg(not(target_os = "linux"))]
fn start_write_back(_file: &File, _at: u64, _len: u64) {}

/// Asks for transparent huge pages for the matrix: 2 MiB pages cut the page faults of its first
/// touch 512-fold. Advice only; without it the matrix is the same.
#[cfg(target_os = "linux")]
fn advise_huge_pages(data: &[f64]) {
    const HUGE: usize = 1 << 21;
    let (start, len) = (data.as_ptr() as usize, std::mem::size_of_val(data));
    let first = start.next_multiple_of(HUGE);
    let last = (start + len) / HUGE * HUGE;
    if last > first {
        // SAFETY: advice on whole pages inside the vector's own allocation.
        unsafe {
            libc::madvise(
                first as *mut libc::c_void,
                last - first,
                libc::MADV_HUGEPAGE,
            )
        };
    }
}

#[cfg(not(target_os = "linux"))]
fn advise_huge_pages(_data: &[f64]) {}
