//! `.dockerignore`, through the files a tar carries.

use super::super::dockerignore::DockerIgnore;
use super::*;

fn sent(ignore: &str, files: &[&str]) -> Vec<String> {
    let r = Repo::plain();
    r.write("Dockerfile", "FROM scratch\n").write(".dockerignore", ignore);
    for f in files {
        r.write(f, "x");
    }
    r.tar(".", &r.version(".")).order
}

#[test]
fn dockerignore_plain_name_and_comments() {
    let got = sent("# a comment\n\n  secret.txt  \n#keep.txt\n", &["secret.txt", "keep.txt", "sub/secret.txt"]);
    assert_eq!(got, [".dockerignore", "Dockerfile", "keep.txt", "sub", "sub/secret.txt"]);
}

#[test]
fn dockerignore_double_star() {
    let got = sent("**/*.log\n", &["a.log", "x/b.log", "x/y/c.log", "x/keep"]);
    assert_eq!(got, [".dockerignore", "Dockerfile", "x", "x/keep", "x/y"]);
}

#[test]
fn dockerignore_star_does_not_cross_slashes() {
    let got = sent("*.log\n/x/*.txt\n", &["a.log", "x/b.log", "x/c.txt", "x/y/d.txt"]);
    assert_eq!(got, [".dockerignore", "Dockerfile", "x", "x/b.log", "x/y", "x/y/d.txt"]);
}

#[test]
fn dockerignore_exceptions_last_match_wins() {
    let got = sent("*.md\n!README.md\nREADME-old.md\n", &["README.md", "CHANGES.md", "README-old.md"]);
    assert_eq!(got, [".dockerignore", "Dockerfile", "README.md"]);
    let got = sent("!README.md\n*.md\n", &["README.md"]);
    assert_eq!(got, [".dockerignore", "Dockerfile"]);
}

#[test]
fn dockerignore_directory_exclusion_and_exception_inside() {
    let got = sent("node_modules\n", &["node_modules/a/index.js", "node_modules/b.js", "src/node_modules/c"]);
    assert_eq!(got, [".dockerignore", "Dockerfile", "src", "src/node_modules", "src/node_modules/c"]);

    let got = sent("docs\n!docs/keep.md\n", &["docs/keep.md", "docs/drop.md", "docs/deep/x.md"]);
    assert_eq!(got, [".dockerignore", "Dockerfile", "docs/keep.md"]);

    let got = sent("vendor/\n!vendor/**/LICENSE\n", &["vendor/a/LICENSE", "vendor/a/code.go", "vendor/LICENSE"]);
    assert_eq!(got, [".dockerignore", "Dockerfile", "vendor/LICENSE", "vendor/a/LICENSE"]);
}

#[test]
fn dockerignore_never_drops_the_dockerfile_or_itself() {
    let got = sent("*\n", &["a", "b/c"]);
    assert_eq!(got, [".dockerignore", "Dockerfile"]);

    let r = Repo::git();
    r.write("app/docker/Dockerfile", "FROM scratch\n")
        .write("app/.dockerignore", "docker\n.dockerignore\n")
        .write("app/docker/other", "x");
    let id = r.commit("first");
    let chunks =
        collect(context_tar(&r.root, "app", "docker/Dockerfile", &r.at("app", "docker/Dockerfile", &id)).unwrap())
            .unwrap();
    assert_eq!(Tarred::read(&chunks.concat()).paths(), [".dockerignore", "docker/Dockerfile"]);
}

#[test]
fn dockerignore_is_read_from_the_commit() {
    let r = Repo::git();
    r.write("app/Dockerfile", "FROM scratch\n")
        .write("app/.dockerignore", "a\n")
        .write("app/a", "a")
        .write("app/b", "b");
    let id = r.commit("first");
    r.write("app/.dockerignore", "b\n");
    assert_eq!(r.tar("app", &r.at("app", "Dockerfile", &id)).paths(), [".dockerignore", "Dockerfile", "b"]);
}

#[test]
fn dockerignore_matching_rules() {
    let ignore =
        DockerIgnore::parse("\u{feff}/abs/path\n./dot/../cleaned\nfoo/**\na/**/z\n[ab]?.c\n{x,y}\n  # not a comment\n")
            .unwrap();
    assert!(ignore.excludes("abs/path"));
    assert!(ignore.excludes("abs/path/below"));
    assert!(ignore.excludes("cleaned"));
    assert!(ignore.excludes("foo/x/y"));
    assert!(!ignore.excludes("foo"));
    assert!(ignore.excludes("a/z") && ignore.excludes("a/b/c/z"));
    assert!(ignore.excludes("b1.c") && !ignore.excludes("c1.c") && !ignore.excludes("b/.c"));
    assert!(ignore.excludes("{x,y}") && !ignore.excludes("x"), "braces are literal, as in moby");
    assert!(ignore.excludes("# not a comment"), "only lines starting with # are comments");
    assert!(DockerIgnore::parse("!\n").is_err());
    assert!(DockerIgnore::parse("[unclosed\n").is_err());
}

#[test]
fn invalid_dockerignore_is_reported() {
    let r = Repo::plain();
    r.write("Dockerfile", "FROM scratch\n").write(".dockerignore", "ok\n[bad\n");
    let problem = invalid_problem(context_version(&r.root, ".").unwrap_err());
    assert!(problem.starts_with("has an invalid .dockerignore: line 2"), "{problem}");
}
