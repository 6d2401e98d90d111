//! tour: an ordinary Rust program on WASI preview1, built by rustc's wasm32-wasi target with its standard
//! library (nothing twinstep-specific): it shows that a guest from the Rust toolchain runs, records and replays.
//!
//! usage: tour [DIR]   (stdin: any text)
//! - arguments and environment (args_get, environ_get);
//! - a HashMap, whose hasher seeds come from random_get;
//! - stdin read to the end, line by line (fd_read);
//! - Instant and SystemTime (clock_time_get), thread::sleep (poll_oneoff);
//! - with DIR: files under DIR/tour (path_open, fd_write, fd_seek, fd_read, fd_readdir, path_filestat_get,
//!   path_rename, path_unlink_file, path_create_directory), a missing file's error, DIR/existing/note.txt read;
//! - stdout and stderr, and the exit code (3 when a check failed, else 0).
//! What it prints depends only on its arguments, environment, stdin and DIR, never on time or randomness.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, Read, Seek, SeekFrom, Write};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// FNV-1a over bytes: a checksum to print instead of a whole file.
fn fnv(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= *b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn files(out: &mut dyn Write, root: &str) -> io::Result<bool> {
    let dir = format!("{}/tour", root);
    fs::create_dir_all(format!("{}/sub", dir))?;
    let a = format!("{}/a.txt", dir);
    {
        let mut f = File::create(&a)?;
        for i in 0..200 {
            writeln!(f, "line {}", i)?;
        }
    }
    OpenOptions::new().append(true).open(&a)?.write_all(b"appended\n")?;
    let text = fs::read_to_string(&a)?;
    let mut f = File::open(&a)?;
    f.seek(SeekFrom::Start(12))?;
    let mut four = [0u8; 4];
    f.read_exact(&mut four)?;
    let end = f.seek(SeekFrom::End(0))?;
    drop(f);
    let b = format!("{}/sub/b.txt", dir);
    fs::rename(&a, &b)?;
    let len = fs::metadata(&b)?.len();
    fs::copy(&b, format!("{}/sub/c.txt", dir))?;
    let mut names: Vec<String> = fs::read_dir(format!("{}/sub", dir))?.map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned())).collect::<io::Result<_>>()?;
    names.sort();
    fs::remove_file(format!("{}/sub/c.txt", dir))?;
    let missing = match File::open(format!("{}/no-such-file", dir)) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => "not found".to_string(),
        Err(e) => format!("unexpected error {}", e),
        Ok(_) => "opened?".to_string(),
    };
    let note = fs::read_to_string(format!("{}/existing/note.txt", root)).map(|s| s.trim_end().to_string()).unwrap_or_else(|e| format!("({})", e));
    let left: usize = fs::read_dir(format!("{}/sub", dir))?.count();
    writeln!(out, "files: {} lines, {} bytes (metadata {}, seek end {}), fnv {:016x}", text.lines().count(), text.len(), len, end, fnv(text.as_bytes()))?;
    writeln!(out, "files: bytes 12..16 {:?}, sub/ held {:?} then {} entry, missing file: {}", String::from_utf8_lossy(&four), names, left, missing)?;
    writeln!(out, "files: existing note: {}", note)?;
    Ok(len == text.len() as u64 && end == len && &four == b"1\nli" && names == ["b.txt", "c.txt"] && left == 1 && missing == "not found")
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let mut ok = true;

    writeln!(out, "args: {:?}", &args[1..]).unwrap();
    let mut env: Vec<String> = std::env::vars().map(|(k, v)| format!("{}={}", k, v)).collect();
    env.sort();
    writeln!(out, "env: {:?}", env).unwrap();

    let mut words: HashMap<String, usize> = HashMap::new();
    let mut lines = 0;
    for line in io::stdin().lock().lines() {
        let line = line.expect("stdin is text");
        lines += 1;
        for w in line.split_whitespace() {
            *words.entry(w.to_lowercase()).or_insert(0) += 1;
        }
    }
    let mut counts: Vec<(String, usize)> = words.into_iter().collect();
    counts.sort();
    writeln!(out, "stdin: {} lines, {} distinct words, most frequent {:?}", lines, counts.len(), counts.iter().max_by_key(|(w, n)| (*n, std::cmp::Reverse(w.clone()))).map(|(w, n)| (w.as_str(), *n))).unwrap();

    let t0 = Instant::now();
    let wall = SystemTime::now();
    std::thread::sleep(Duration::from_millis(2));
    let slept = t0.elapsed() >= Duration::from_millis(2);
    let after2020 = wall.duration_since(UNIX_EPOCH).map(|d| d.as_secs() > 1_577_836_800).unwrap_or(false);
    writeln!(out, "clock: slept at least 2 ms: {}, realtime after 2020: {}", slept, after2020).unwrap();
    ok &= slept && after2020;

    if let Some(root) = args.get(1) {
        match files(&mut out, root) {
            Ok(good) => ok &= good,
            Err(e) => {
                writeln!(out, "files: error {}", e).unwrap();
                ok = false;
            }
        }
    }
    eprintln!("tour: {}", if ok { "all checks passed" } else { "a check failed" });
    out.flush().unwrap();
    drop(out);
    std::process::exit(if ok { 0 } else { 3 });
}
