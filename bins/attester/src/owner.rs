//! `USER[:GROUP]` for `--socket-owner` / `--token-owner`: names are looked up in `/etc/passwd`
//! and `/etc/group` (confidential guests rarely run an NSS daemon); numeric ids are taken as
//! they are.

use std::path::Path;

/// A resolved owner: either part may be absent (left unchanged by `chown`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Owner {
    pub(crate) uid: Option<u32>,
    pub(crate) gid: Option<u32>,
}

/// Looks `name` up in a colon-separated database (`name:password:id:...`).
fn lookup(db: &Path, name: &str) -> Result<u32, String> {
    let text = std::fs::read_to_string(db).map_err(|e| format!("{}: {e}", db.display()))?;
    for line in text.lines() {
        let mut f = line.split(':');
        if f.next() == Some(name) {
            let id = f.nth(1).unwrap_or_default();
            return id
                .parse()
                .map_err(|_| format!("{}: bad id {id:?} for {name:?}", db.display()));
        }
    }
    Err(format!("{name:?} not found in {}", db.display()))
}

fn id(s: &str, db: &Path) -> Result<Option<u32>, String> {
    if s.is_empty() {
        Ok(None)
    } else if s.bytes().all(|b| b.is_ascii_digit()) {
        s.parse().map(Some).map_err(|e| format!("{s:?}: {e}"))
    } else {
        lookup(db, s).map(Some)
    }
}

/// Parses `USER`, `USER:GROUP` or `:GROUP` (names or numeric ids).
pub(crate) fn parse_owner(s: &str) -> Result<Owner, String> {
    parse_owner_in(s, Path::new("/etc/passwd"), Path::new("/etc/group"))
}

fn parse_owner_in(s: &str, passwd: &Path, group: &Path) -> Result<Owner, String> {
    let (u, g) = s.split_once(':').unwrap_or((s, ""));
    let owner = Owner {
        uid: id(u, passwd)?,
        gid: id(g, group)?,
    };
    if owner == Owner::default() {
        return Err(format!("{s:?}: expected USER[:GROUP]"));
    }
    Ok(owner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_ids() {
        let tmp = tempfile::tempdir().unwrap();
        let (p, g) = (tmp.path().join("passwd"), tmp.path().join("group"));
        std::fs::write(
            &p,
            "root:x:0:0::/root:/bin/sh\napp:x:1234:1300::/app:/bin/false\n",
        )
        .unwrap();
        std::fs::write(&g, "root:x:0:\napps:x:1300:app\n").unwrap();
        let o = |s| parse_owner_in(s, &p, &g);
        assert_eq!(
            o("app").unwrap(),
            Owner {
                uid: Some(1234),
                gid: None
            }
        );
        assert_eq!(
            o("app:apps").unwrap(),
            Owner {
                uid: Some(1234),
                gid: Some(1300)
            }
        );
        assert_eq!(
            o(":7").unwrap(),
            Owner {
                uid: None,
                gid: Some(7)
            }
        );
        assert!(o("nobody-here").is_err());
        assert!(o(":").is_err());
        assert!(o("").is_err());
    }
}
