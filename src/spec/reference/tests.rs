//! The grammar's edge cases, most from distribution/reference's own tests
//! (`reference_test.go`, `normalize_test.go`) and the oci-spec crate's.

use super::*;

const SHA256: &str = "sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff";

fn parsed(s: &str) -> ImageRef {
    ImageRef::parse(s).unwrap_or_else(|e| panic!("{s:?} should parse: {e}"))
}

fn err(s: &str) -> RefError {
    match ImageRef::parse(s) {
        Ok(r) => panic!("{s:?} should not parse, got {r}"),
        Err(e) => e,
    }
}

/// Input, registry, repository, tag, digest, normalized.
type Case<'a> = (&'a str, &'a str, &'a str, Option<&'a str>, Option<&'a str>, &'a str);

#[test]
fn normalizes_as_docker_pull() {
    let sha512 = format!("sha512:{}", "f".repeat(128));
    let cases: &[Case] = &[
        ("busybox", "docker.io", "library/busybox", Some("latest"), None, "docker.io/library/busybox:latest"),
        ("busybox:1.36", "docker.io", "library/busybox", Some("1.36"), None, "docker.io/library/busybox:1.36"),
        ("acme/web:v1", "docker.io", "acme/web", Some("v1"), None, "docker.io/acme/web:v1"),
        ("docker.io/busybox", "docker.io", "library/busybox", Some("latest"), None, "docker.io/library/busybox:latest"),
        ("docker.io/library/busybox:1", "docker.io", "library/busybox", Some("1"), None, "docker.io/library/busybox:1"),
        ("opensuse/leap:15.3", "docker.io", "opensuse/leap", Some("15.3"), None, "docker.io/opensuse/leap:15.3"),
        ("a/b/c/d", "docker.io", "a/b/c/d", Some("latest"), None, "docker.io/a/b/c/d:latest"),
        ("ghcr.io/acme/web:1.0", "ghcr.io", "acme/web", Some("1.0"), None, "ghcr.io/acme/web:1.0"),
        (
            "sub-dom1.foo.com/bar/baz/quux",
            "sub-dom1.foo.com",
            "bar/baz/quux",
            Some("latest"),
            None,
            "sub-dom1.foo.com/bar/baz/quux:latest",
        ),
        (
            "b.gcr.io/test.example.com/my-app:test.example.com",
            "b.gcr.io",
            "test.example.com/my-app",
            Some("test.example.com"),
            None,
            "b.gcr.io/test.example.com/my-app:test.example.com",
        ),
        (
            "xn--n3h.com/myimage:xn--n3h.com",
            "xn--n3h.com",
            "myimage",
            Some("xn--n3h.com"),
            None,
            "xn--n3h.com/myimage:xn--n3h.com",
        ),
        (
            "foo_bar.com:8080",
            "docker.io",
            "library/foo_bar.com",
            Some("8080"),
            None,
            "docker.io/library/foo_bar.com:8080",
        ),
        ("foo/foo_bar.com:8080", "docker.io", "foo/foo_bar.com", Some("8080"), None, "docker.io/foo/foo_bar.com:8080"),
        (
            "lowercase:Uppercase",
            "docker.io",
            "library/lowercase",
            Some("Uppercase"),
            None,
            "docker.io/library/lowercase:Uppercase",
        ),
        // Separators: `.`, `_`, `__`, any run of `-`.
        (
            "a.b_c__d---e-f",
            "docker.io",
            "library/a.b_c__d---e-f",
            Some("latest"),
            None,
            "docker.io/library/a.b_c__d---e-f:latest",
        ),
        // An uppercase first component is a registry host (distribution/reference's rule).
        ("Uppercase/lowercase:tag", "Uppercase", "lowercase", Some("tag"), None, "Uppercase/lowercase:tag"),
        // A digest, with and without a tag, and other algorithms.
        (
            &format!("nginx@{SHA256}"),
            "docker.io",
            "library/nginx",
            None,
            Some(SHA256),
            &format!("docker.io/library/nginx@{SHA256}"),
        ),
        (
            &format!("nginx:1.27@{SHA256}"),
            "docker.io",
            "library/nginx",
            Some("1.27"),
            Some(SHA256),
            &format!("docker.io/library/nginx:1.27@{SHA256}"),
        ),
        (
            &format!("xn--7o8h.com/myimage:xn--7o8h.com@{sha512}"),
            "xn--7o8h.com",
            "myimage",
            Some("xn--7o8h.com"),
            Some(&sha512),
            &format!("xn--7o8h.com/myimage:xn--7o8h.com@{sha512}"),
        ),
    ];
    for (input, registry, repository, tag, digest, whole) in cases {
        let r = parsed(input);
        assert_eq!(
            (r.registry(), r.repository(), r.tag(), r.digest(), r.whole().as_str()),
            (*registry, *repository, *tag, *digest, *whole),
            "{input}"
        );
        // The normalized form reads back as itself.
        assert_eq!(parsed(whole), r, "{whole}");
    }
}

#[test]
fn registry_hosts_ports_and_localhost() {
    for (input, registry, repository, tag) in [
        ("localhost:5000/web", "localhost:5000", "web", "latest"),
        ("localhost:5000/app-web:3", "localhost:5000", "app-web", "3"),
        ("localhost/web:1", "localhost", "web", "1"),
        ("127.0.0.1:5000/app:1", "127.0.0.1:5000", "app", "1"),
        ("test:5000/repo", "test:5000", "repo", "latest"),
        ("test:5000/repo:tag", "test:5000", "repo", "tag"),
        ("test.com/repo:tag", "test.com", "repo", "tag"),
        ("registry.lan:443/a/b/c:x", "registry.lan:443", "a/b/c", "x"),
        ("Registry.Example.COM/app", "Registry.Example.COM", "app", "latest"),
        ("my-registry:0/app", "my-registry:0", "app", "latest"),
    ] {
        let r = parsed(input);
        assert_eq!((r.registry(), r.repository(), r.tag()), (registry, repository, Some(tag)), "{input}");
    }
    // Without a `/`, `host:port` is a name and a tag.
    let r = parsed("test.com:5000");
    assert_eq!((r.registry(), r.repository(), r.tag()), ("docker.io", "library/test.com", Some("5000")));
    let r = parsed("localhost:5000");
    assert_eq!((r.registry(), r.repository(), r.tag()), ("docker.io", "library/localhost", Some("5000")));
    // `localhost` or a domain alone is an image name; as a first component, a host.
    assert_eq!(parsed("localhost").whole(), "docker.io/library/localhost:latest");
    assert_eq!(parsed("ghcr.io").whole(), "docker.io/library/ghcr.io:latest");
    // A first component without `.`, `:` or uppercase is a Hub namespace.
    assert_eq!(parsed("registry/app").registry(), "docker.io");
    let d = parsed(&format!("test:5000/repo:tag@{SHA256}"));
    assert_eq!((d.registry(), d.tag(), d.digest()), ("test:5000", Some("tag"), Some(SHA256)));
}

#[test]
fn docker_hub_names() {
    // `index.docker.io` is Docker Hub's legacy name: read as docker.io, with `library/`.
    for input in ["index.docker.io/busybox", "index.docker.io/library/busybox", "docker.io/busybox", "busybox"] {
        assert_eq!(parsed(input).whole(), "docker.io/library/busybox:latest", "{input}");
    }
    assert_eq!(parsed("index.docker.io/acme/web").whole(), "docker.io/acme/web:latest");
    // Other aliases are hosts like any other, as the engine reads them
    // (the registry client maps them to Docker Hub).
    let r = parsed("registry-1.docker.io/busybox");
    assert_eq!((r.registry(), r.repository()), ("registry-1.docker.io", "busybox"));
}

#[test]
fn tags() {
    let longest = "t".repeat(128);
    for tag in ["1", "_x", "X", "v1.2.3-rc.1", "A_b-C.d", "1.", "a--b", longest.as_str()] {
        assert_eq!(parsed(&format!("app:{tag}")).tag(), Some(tag), "{tag}");
        assert!(is_tag(tag), "{tag}");
    }
    for tag in ["", ".x", "-x", "a b", "a/b", "é", "naïve", "a+b", &"t".repeat(129)] {
        assert!(!is_tag(tag), "{tag:?}");
        assert_eq!(err(&format!("app:{tag}")), RefError::InvalidFormat, "{tag:?}");
    }
    assert_eq!(err("app:a:b"), RefError::InvalidFormat);
    assert_eq!(err("localhost:5000/app:"), RefError::InvalidFormat);
}

#[test]
fn digests() {
    let sha384 = format!("sha384:{}", "0".repeat(96));
    assert_eq!(parsed(&format!("app@{sha384}")).digest(), Some(sha384.as_str()));
    assert_eq!(parsed(&format!("app@{SHA256}")).tag(), None, "a digest alone has no tag");
    for (input, why) in [
        ("repo@sha256:ffffffffffffffffffffffffffffffffff".to_string(), RefError::DigestLength),
        (format!("repo@sha256:{}", "a".repeat(63)), RefError::DigestLength),
        (format!("repo@sha512:{}", "a".repeat(64)), RefError::DigestLength),
        (format!("validname@invaliddigest:{}", "f".repeat(64)), RefError::DigestUnsupported),
        (format!("repo@sha256+b64:{}", "f".repeat(64)), RefError::DigestUnsupported),
        // go-digest: lowercase hex only.
        (format!("repo@sha256:{}", "F".repeat(64)), RefError::DigestFormat),
        // Below 32 hex digits it is not a digest at all.
        ("nginx@sha256:abc".to_string(), RefError::InvalidFormat),
        (format!("repo@sha256:{}", "g".repeat(64)), RefError::InvalidFormat),
        (format!("repo@{}", "f".repeat(64)), RefError::InvalidFormat),
        (format!("repo@1sha:{}", "f".repeat(64)), RefError::InvalidFormat),
        (format!("repo@sha256:{}@{SHA256}", "f".repeat(64)), RefError::InvalidFormat),
        ("repo@".to_string(), RefError::InvalidFormat),
        (format!("@{SHA256}"), RefError::InvalidFormat),
    ] {
        assert_eq!(err(&input), why, "{input}");
    }
}

#[test]
fn uppercase_is_refused_in_repositories() {
    for input in ["Uppercase:tag", "Nginx", "acme/Web", "test:5000/Uppercase/lowercase:tag", "ghcr.io/Acme/web:1"] {
        assert_eq!(err(input), RefError::Uppercase, "{input}");
    }
    assert_eq!(err("Nginx").to_string(), "repository name must be lowercase");
}

#[test]
fn malformed_names() {
    for input in [
        ":justtag",
        "-nginx",
        "nginx-",
        "a//b",
        "/a",
        "a/",
        "a..b",
        "a___b",
        "a_-b",
        "a b",
        " nginx",
        "nginx ",
        "aa/asdf$$^/aa",
        "wéb",
        "-domain.com/app",
        "domain-.com/app",
        "domain..com/app",
        "a_b.com:80/x",
        "host:/app",
        "host:12a/app",
        "host:5000:5000/app",
        "[::1]:5000/app",
    ] {
        assert_eq!(err(input), RefError::InvalidFormat, "{input:?}");
    }
    assert_eq!(err(""), RefError::Empty);
}

#[test]
fn names_are_at_most_255_characters() {
    // Counted on the normalized name, `docker.io/library/` included.
    let fits = "a".repeat(255 - "docker.io/library/".len());
    assert_eq!(parsed(&fits).whole().len(), 255 + ":latest".len());
    assert_eq!(err(&format!("{fits}a")), RefError::NameTooLong);
    let host = format!("r.io/{}", "b".repeat(250));
    assert_eq!(parsed(&host).repository().len(), 250);
    assert_eq!(err(&format!("{host}b")), RefError::NameTooLong);
}

#[test]
fn image_ids_are_not_names() {
    let id = "f".repeat(64);
    assert_eq!(err(&id), RefError::ImageId(id.clone()));
    assert!(err(&id).to_string().contains("cannot specify 64-byte hexadecimal strings"));
    // Another length, or a tag, makes it a name again.
    assert_eq!(parsed(&"f".repeat(63)).repository(), format!("library/{}", "f".repeat(63)));
    assert_eq!(parsed(&format!("{id}:1")).tag(), Some("1"));
}

#[test]
fn parses_with_from_str() {
    let r: ImageRef = "busybox:1.36".parse().unwrap();
    assert_eq!(r.to_string(), "docker.io/library/busybox:1.36");
    assert!("Bad Image".parse::<ImageRef>().is_err());
}
