//! Unzipping a release without letting it write outside the work directory, and finding the
//! terraform directory its ferry.json names.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

use crate::{fail, Result};

/// Zip bombs are refused rather than allowed to fill the build's disk.
const MAX_TOTAL: u64 = 4 << 30;

/// `s` as Python's `repr` quotes it, so reasons read as they always have.
fn quoted(s: &str) -> String {
    let q = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::from(q);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c == q => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push(q);
    out
}

fn refuse(name: &str, why: &str) -> crate::Failure {
    crate::Failure(format!(
        "release zip entry {} {why}; refusing to unzip",
        quoted(name)
    ))
}

/// Where `name` lands under `dest`, or why it may not: absolute or non-portable paths, `..`.
fn target(dest: &Path, name: &str) -> Result<PathBuf> {
    let b = name.as_bytes();
    if name.starts_with(['/', '\\']) || (b.len() > 1 && b[1] == b':') || name.contains('\\') {
        return Err(refuse(name, "is an absolute or non-portable path"));
    }
    if name.split('/').any(|p| p == "..") {
        return Err(refuse(name, "contains '..'"));
    }
    let mut path = dest.to_path_buf();
    for c in Path::new(name).components() {
        match c {
            Component::Normal(p) => path.push(p),
            Component::CurDir => {}
            _ => return Err(refuse(name, "resolves outside the work directory")),
        }
    }
    Ok(path)
}

fn u16_at(b: &[u8], at: usize) -> Option<u64> {
    b.get(at..at + 2)
        .map(|x| u64::from(u16::from_le_bytes([x[0], x[1]])))
}
fn u32_at(b: &[u8], at: usize) -> Option<u64> {
    b.get(at..at + 4)
        .map(|x| u64::from(u32::from_le_bytes([x[0], x[1], x[2], x[3]])))
}
fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    b.get(at..at + 8)
        .and_then(|x| x.try_into().ok())
        .map(u64::from_le_bytes)
}

/// Every name the central directory lists, duplicates included — the zip crate keeps one
/// entry per name, so a second `ferry.json` would be invisible through it.
fn directory_names(zip: &Path) -> Result<Vec<String>> {
    use std::io::{Seek, SeekFrom};
    let bad = |why: &str| crate::Failure(format!("the release is not a readable zip: {why}"));
    let mut f = std::fs::File::open(zip).map_err(|e| format!("could not open the release: {e}"))?;
    let size = f.metadata().map_err(|e| e.to_string())?.len();
    // The end record is in the last 22 bytes plus at most a 64 KiB comment (and, before it,
    // a 20-byte ZIP64 locator).
    let tail_len = size.min(22 + 65_535 + 20);
    let mut tail = vec![0u8; usize::try_from(tail_len).map_err(|e| e.to_string())?];
    f.seek(SeekFrom::Start(size - tail_len))
        .map_err(|e| e.to_string())?;
    f.read_exact(&mut tail).map_err(|e| e.to_string())?;
    let eocd = (0..tail.len().saturating_sub(21))
        .rev()
        .find(|&i| tail[i..].starts_with(&[0x50, 0x4b, 0x05, 0x06]))
        .ok_or_else(|| bad("no end of central directory"))?;
    let short = || bad("short end record");
    let mut entries = u16_at(&tail, eocd + 10).ok_or_else(short)?;
    let mut cd_size = u32_at(&tail, eocd + 12).ok_or_else(short)?;
    let mut cd_offset = u32_at(&tail, eocd + 16).ok_or_else(short)?;
    if entries == 0xFFFF || cd_size == 0xFFFF_FFFF || cd_offset == 0xFFFF_FFFF {
        // ZIP64: the locator just before the end record points at the ZIP64 end record.
        let at = eocd
            .checked_sub(20)
            .filter(|&l| tail[l..].starts_with(&[0x50, 0x4b, 0x06, 0x07]))
            .and_then(|l| u64_at(&tail, l + 8))
            .ok_or_else(|| bad("no ZIP64 locator"))?;
        let mut rec = [0u8; 56];
        f.seek(SeekFrom::Start(at)).map_err(|e| e.to_string())?;
        f.read_exact(&mut rec)
            .map_err(|_| bad("short ZIP64 end record"))?;
        if !rec.starts_with(&[0x50, 0x4b, 0x06, 0x06]) {
            return Err(bad("bad ZIP64 end record"));
        }
        entries = u64_at(&rec, 32).unwrap_or(u64::MAX);
        cd_size = u64_at(&rec, 40).unwrap_or(u64::MAX);
        cd_offset = u64_at(&rec, 48).unwrap_or(u64::MAX);
    }
    if cd_offset.checked_add(cd_size).is_none_or(|end| end > size) || entries > cd_size / 46 {
        return Err(bad("the central directory does not fit the file"));
    }
    let mut cd = vec![0u8; usize::try_from(cd_size).map_err(|e| e.to_string())?];
    f.seek(SeekFrom::Start(cd_offset))
        .map_err(|e| e.to_string())?;
    f.read_exact(&mut cd).map_err(|e| e.to_string())?;
    let ends_early = || bad("the central directory ends early");
    let mut names = Vec::new();
    let mut at = 0usize;
    for _ in 0..entries {
        let h = cd.get(at..at + 46).ok_or_else(ends_early)?;
        if !h.starts_with(&[0x50, 0x4b, 0x01, 0x02]) {
            return Err(bad("bad central directory entry"));
        }
        let len = |o| u16_at(h, o).map_or(0, |n| n as usize);
        let (n, extra, comment) = (len(28), len(30), len(32));
        let name = cd.get(at + 46..at + 46 + n).ok_or_else(ends_early)?;
        names.push(String::from_utf8_lossy(name).into_owned());
        at += 46 + n + extra + comment;
    }
    Ok(names)
}

/// Unzips `zip` into the empty directory `dest`, refusing — before writing anything — symbolic
/// links, paths that could land outside `dest`, names that land on the same path twice (tools
/// disagree on which copy counts, so registration and this build could read different
/// ferry.json), and more than 4 GiB in all. Returns how many entries it wrote.
pub fn unzip(zip: &Path, dest: &Path) -> Result<usize> {
    let mut seen: HashMap<PathBuf, String> = HashMap::new();
    for name in directory_names(zip)? {
        let path = target(dest, &name)?;
        if let Some(first) = seen.insert(path, name.clone()) {
            return Err(refuse(
                &name,
                &format!(
                    "is a duplicate entry name (same path as {})",
                    quoted(&first)
                ),
            ));
        }
    }
    seen.clear();
    let file = std::fs::File::open(zip).map_err(|e| format!("could not open the release: {e}"))?;
    let mut archive = zip::ZipArchive::new(file)
        .map_err(|e| format!("the release is not a readable zip: {e}"))?;
    let mut total: u64 = 0;
    let mut plan = Vec::with_capacity(archive.len());
    for i in 0..archive.len() {
        let entry = archive
            .by_index_raw(i)
            .map_err(|e| format!("the release's entry {i} is unreadable: {e}"))?;
        let name = entry.name().to_owned();
        let mode = entry.unix_mode().unwrap_or(0);
        if mode & 0o170000 == 0o120000 {
            return Err(refuse(&name, "is a symbolic link"));
        }
        let path = target(dest, &name)?;
        if let Some(first) = seen.insert(path.clone(), name.clone()) {
            return Err(refuse(
                &name,
                &format!(
                    "is a duplicate entry name (same path as {})",
                    quoted(&first)
                ),
            ));
        }
        total = total.saturating_add(entry.size());
        if total > MAX_TOTAL {
            return Err(refuse(&name, "makes the release larger than 4 GiB"));
        }
        plan.push((path, entry.is_dir(), mode, entry.size()));
    }
    for (i, (path, is_dir, mode, size)) in plan.iter().enumerate() {
        if *is_dir {
            std::fs::create_dir_all(path)
                .map_err(|e| format!("could not create {}: {e}", path.display()))?;
            continue;
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("could not create {}: {e}", parent.display()))?;
        }
        let mut entry = archive
            .by_index(i)
            .map_err(|e| format!("the release's entry {i} is unreadable: {e}"))?;
        let mut out = std::fs::File::create(path)
            .map_err(|e| format!("could not write {}: {e}", path.display()))?;
        // Never more than the entry declared (the total above was checked on declarations).
        let written = std::io::copy(&mut (&mut entry).take(size.saturating_add(1)), &mut out)
            .map_err(|e| format!("could not unzip {}: {e}", entry.name()))?;
        if written > *size {
            return Err(refuse(entry.name(), "holds more bytes than it declares"));
        }
        // Vendored provider binaries need their exec bit.
        #[cfg(unix)]
        if mode & 0o777 != 0 {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(
                path,
                std::fs::Permissions::from_mode((mode & 0o777) | 0o400),
            )
            .map_err(|e| format!("could not set the mode of {}: {e}", path.display()))?;
        }
    }
    Ok(plan.len())
}

/// The terraform root module directory ferry.json names (`terraform_dir`, default `.`),
/// inside the unzipped release `root`.
pub fn terraform_dir(root: &Path) -> Result<PathBuf> {
    let text = std::fs::read(root.join("ferry.json"))
        .map_err(|e| format!("release has no readable ferry.json at its root: {e}"))?;
    let manifest: serde_json::Value = serde_json::from_slice(&text)
        .map_err(|e| format!("release has no readable ferry.json at its root: {e}"))?;
    let rel = match manifest.get("terraform_dir") {
        None | Some(serde_json::Value::Null) => ".".to_owned(),
        Some(serde_json::Value::String(s)) if s.is_empty() => ".".to_owned(),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(other) => {
            fail!("ferry.json terraform_dir {other} must be a relative path inside the release")
        }
    };
    if rel.starts_with('/') || rel.split('/').any(|p| p == "..") {
        fail!(
            "ferry.json terraform_dir {} must be a relative path inside the release",
            quoted(&rel)
        );
    }
    let root = root
        .canonicalize()
        .map_err(|e| format!("could not read the release: {e}"))?;
    let path = root.join(&rel);
    match path.canonicalize() {
        Ok(p) if p.starts_with(&root) && p.is_dir() => Ok(p),
        Ok(p) if !p.starts_with(&root) => {
            fail!(
                "ferry.json terraform_dir {} resolves outside the release",
                quoted(&rel)
            )
        }
        _ => fail!(
            "ferry.json terraform_dir {} is not a directory in the release",
            quoted(&rel)
        ),
    }
}

/// Extracts one entry of `zip` (terraform from HashiCorp's release zip) into `dir`.
pub fn extract_one(zip: &Path, name: &str, dir: &Path) -> Result<()> {
    let file =
        std::fs::File::open(zip).map_err(|e| format!("could not open {}: {e}", zip.display()))?;
    let mut archive =
        zip::ZipArchive::new(file).map_err(|e| format!("{} is not a zip: {e}", zip.display()))?;
    let mut entry = archive
        .by_name(name)
        .map_err(|e| format!("{} has no {name}: {e}", zip.display()))?;
    let path = target(dir, name)?;
    let mut out = std::fs::File::create(&path)
        .map_err(|e| format!("could not write {}: {e}", path.display()))?;
    std::io::copy(&mut entry, &mut out).map_err(|e| format!("could not extract {name}: {e}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use zip::write::SimpleFileOptions;

    fn zip_of(entries: &[(&str, &[u8], u32)]) -> tempfile::NamedTempFile {
        let f = tempfile::NamedTempFile::new().unwrap();
        let mut w = zip::ZipWriter::new(f.reopen().unwrap());
        for (name, body, mode) in entries {
            let opts = SimpleFileOptions::default().unix_permissions(*mode);
            if mode & 0o170000 == 0o120000 {
                w.add_symlink(*name, std::str::from_utf8(body).unwrap(), opts)
                    .unwrap();
            } else {
                w.start_file(*name, opts).unwrap();
                w.write_all(body).unwrap();
            }
        }
        w.finish().unwrap();
        f
    }

    fn unzip_err(entries: &[(&str, &[u8], u32)]) -> String {
        let z = zip_of(entries);
        let d = tempfile::tempdir().unwrap();
        let e = unzip(z.path(), d.path()).unwrap_err().0;
        assert_eq!(
            std::fs::read_dir(d.path()).unwrap().count(),
            0,
            "wrote before refusing: {e}"
        );
        e
    }

    #[test]
    fn releases_unzip_with_modes_and_their_terraform_dir() {
        let z = zip_of(&[
            ("ferry.json", br#"{"terraform_dir": "tf"}"#, 0o644),
            ("tf/main.tf", b"# hi", 0o644),
            ("tf/terraform.d/plugins/p", b"bin", 0o755),
        ]);
        let d = tempfile::tempdir().unwrap();
        assert_eq!(unzip(z.path(), d.path()).unwrap(), 3);
        let dir = terraform_dir(d.path()).unwrap();
        assert!(dir.ends_with("tf"), "{}", dir.display());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join("terraform.d/plugins/p"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o755);
        }
    }

    #[test]
    fn what_could_escape_is_refused_before_anything_is_written() {
        assert_eq!(
            unzip_err(&[("ferry.json", b"{}", 0o644), ("../evil", b"x", 0o644)]),
            "release zip entry '../evil' contains '..'; refusing to unzip"
        );
        assert!(unzip_err(&[("/etc/x", b"x", 0o644)]).contains("absolute or non-portable"));
        assert!(unzip_err(&[("C:/x", b"x", 0o644)]).contains("absolute or non-portable"));
        assert!(unzip_err(&[("link", b"/etc", 0o120777)]).contains("is a symbolic link"));
        assert_eq!(
            unzip_err(&[("a/b", b"1", 0o644), ("a/./b", b"2", 0o644)]),
            "release zip entry 'a/./b' is a duplicate entry name (same path as 'a/b'); refusing to unzip"
        );
    }

    #[test]
    fn a_name_listed_twice_is_refused_though_the_zip_crate_would_keep_one() {
        let z = zip_of(&[("ferry.json", b"{}", 0o644), ("ferry.jsoX", b"{}", 0o644)]);
        let mut bytes = std::fs::read(z.path()).unwrap();
        // Same length, every occurrence (local and central headers).
        let mut i = 0;
        while let Some(at) = bytes[i..].windows(10).position(|w| w == b"ferry.jsoX") {
            bytes[i + at + 9] = b'n';
            i += at + 10;
        }
        std::fs::write(z.path(), bytes).unwrap();
        let d = tempfile::tempdir().unwrap();
        let e = unzip(z.path(), d.path()).unwrap_err().0;
        assert_eq!(
            e,
            "release zip entry 'ferry.json' is a duplicate entry name (same path as 'ferry.json'); refusing to unzip"
        );
    }

    #[test]
    fn a_terraform_dir_outside_the_release_is_refused() {
        for (manifest, want) in [
            (
                r#"{"terraform_dir": "../x"}"#,
                "must be a relative path inside the release",
            ),
            (
                r#"{"terraform_dir": "/etc"}"#,
                "must be a relative path inside the release",
            ),
            (
                r#"{"terraform_dir": "nope"}"#,
                "is not a directory in the release",
            ),
            ("not json", "no readable ferry.json"),
        ] {
            let d = tempfile::tempdir().unwrap();
            std::fs::write(d.path().join("ferry.json"), manifest).unwrap();
            let e = terraform_dir(d.path()).unwrap_err().0;
            assert!(e.contains(want), "{manifest}: {e}");
        }
    }
}
