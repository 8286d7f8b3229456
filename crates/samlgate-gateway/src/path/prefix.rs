//! Route prefixes, matched on segment boundaries of the canonical routing
//! path.
//!
//! `/admin` matches `/admin`, `/admin/` and `/admin/x`, never
//! `/administrator` (write `/admin` and `/administrator` as two routes, or
//! `/` for both). A trailing slash in the prefix changes nothing: `/app/`
//! also matches `/app`.
//!
//! **`case_insensitive`** is for backends that serve `/ADMIN/` as
//! `/admin/`: IIS and other Windows servers (NTFS), macOS file systems.
//! The comparison then follows what such a backend folds together, so
//! that every spelling it serves as the prefix matches the prefix's rule:
//! each character by its simple upper case (`ı` U+0131 is `I`, as in the
//! NTFS upcase table; one-to-one only, so `ß` is not `SS`), escapes decoded,
//! and per segment what Win32 path handling drops: an NTFS stream suffix
//! from the first `:` (`admin::$INDEX_ALLOCATION` is the directory
//! `admin`), then trailing dots and spaces (`admin.`, `admin%20`). Not
//! covered, because they need the backend's file system: 8.3 short names
//! (`ADMINI~1`; disable them with `fsutil 8dot3name set 1` on such a
//! backend) and Unicode normalization forms (which is why prefixes are
//! written in ASCII without escapes, see the configuration's checks).
//!
//! Case-insensitivity is a property of the backend, so every route to one
//! upstream must set it alike (the configuration refuses otherwise): a
//! case-sensitive `/admin` rule in front of an IIS backend is bypassed by
//! `/ADMIN/`.

use std::borrow::Cow;

use percent_encoding::percent_decode_str;

/// True when `routing_path` (a [`super::CanonicalPath::routing_path`]) is
/// `prefix` or below it, on segment boundaries; compared as a Windows
/// backend would when `case_insensitive`.
pub fn prefix_matches(routing_path: &str, prefix: &str, case_insensitive: bool) -> bool {
    let prefix = prefix.trim_end_matches('/');
    if prefix.is_empty() {
        return true;
    }
    let mut segments = routing_path.split('/');
    prefix.split('/').all(|want| match segments.next() {
        Some(have) if case_insensitive => windows_eq(have, want),
        Some(have) => have == want,
        None => false,
    })
}

/// Segment equality as NTFS and IIS see it. Allocates only for segments
/// with escapes.
fn windows_eq(a: &str, b: &str) -> bool {
    let a = windows_name(a);
    let b = windows_name(b);
    a.chars().map(upper).eq(b.chars().map(upper))
}

/// The file name a Windows backend opens for a segment: decoded, without
/// a stream suffix, without trailing dots and spaces.
fn windows_name(segment: &str) -> Cow<'_, str> {
    let decoded = percent_decode_str(segment).decode_utf8_lossy();
    let cut = |s: &str| -> usize {
        let name = s.split(':').next().unwrap_or_default();
        name.trim_end_matches(['.', ' ']).len()
    };
    match decoded {
        Cow::Borrowed(s) => Cow::Borrowed(s.get(..cut(s)).unwrap_or_default()),
        Cow::Owned(mut s) => {
            s.truncate(cut(&s));
            Cow::Owned(s)
        }
    }
}

/// Simple (one-to-one) upper case: what a case-insensitive file system's
/// upcase table does.
fn upper(c: char) -> char {
    if c.is_ascii() {
        return c.to_ascii_uppercase();
    }
    let mut u = c.to_uppercase();
    match (u.next(), u.next()) {
        (Some(one), None) => one,
        _ => c,
    }
}

#[cfg(test)]
mod tests {
    use super::prefix_matches;

    #[test]
    fn prefixes_match_on_segment_boundaries() {
        for ci in [false, true] {
            assert!(prefix_matches("/anything", "/", ci));
            assert!(prefix_matches("/", "/", ci));
            assert!(prefix_matches("/admin", "/admin", ci));
            assert!(prefix_matches("/admin/", "/admin", ci));
            assert!(prefix_matches("/admin/x/y", "/admin", ci));
            assert!(
                prefix_matches("/app", "/app/", ci),
                "trailing / in the prefix"
            );
            assert!(prefix_matches("/app/x", "/app/", ci));
            assert!(prefix_matches("/a/b/c", "/a/b", ci));
            assert!(!prefix_matches("/administrator", "/admin", ci));
            assert!(!prefix_matches("/adm", "/admin", ci));
            assert!(!prefix_matches("/", "/admin", ci));
            assert!(!prefix_matches("/a/bc", "/a/b", ci));
            assert!(!prefix_matches("/x/admin", "/admin", ci));
            // Refused before routing, and no match even if it were not.
            assert!(!prefix_matches("/admin%2Fx", "/admin", ci));
        }
    }

    #[test]
    fn case_sensitive_compares_bytes() {
        assert!(!prefix_matches("/ADMIN/", "/admin", false));
        assert!(!prefix_matches("/Admin", "/admin", false));
        assert!(!prefix_matches("/admin./", "/admin", false));
        assert!(!prefix_matches("/admin%20/", "/admin", false));
    }

    #[test]
    fn case_insensitive_folds_what_windows_folds() {
        for path in [
            "/ADMIN/",
            "/Admin/x",
            "/aDmIn",
            "/admin./x",
            "/admin.../x",
            "/admin%20/x",
            "/admin.%20./",
            "/admin::$INDEX_ALLOCATION/x",
            "/ADMIN:$I30:$INDEX_ALLOCATION/",
            "/adm%C4%B1n/", // ı U+0131 upcases to I
        ] {
            assert!(prefix_matches(path, "/admin", true), "{path}");
            assert!(!prefix_matches(path, "/admin", false), "{path}");
        }
        assert!(
            prefix_matches("/%C3%84RGER/x", "/%C3%A4rger", true),
            "Ä / ä"
        );
        assert!(
            !prefix_matches("/STRASSE/", "/stra%C3%9Fe", true),
            "ß is not SS: one-to-one folding only, never more than the backend"
        );
        assert!(!prefix_matches("/administrator", "/ADMIN", true));
        assert!(!prefix_matches("/adminx./", "/admin", true));
        assert!(!prefix_matches("/.admin/", "/admin", true));
        assert!(!prefix_matches("/ad:min/", "/admin", true));
    }
}
