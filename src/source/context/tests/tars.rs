//! The tar a context is sent as.

use super::*;

#[test]
fn tar_from_a_commit_has_committed_content_not_the_disk() {
    let r = Repo::git();
    r.write("app/Dockerfile", "FROM scratch\n")
        .write("app/src/app.sh", "echo committed\n")
        .write("app/.gitignore", "*.tmp\n")
        .write("other/x", "1");
    r.chmod("app/src/app.sh", 0o755);
    r.symlink("src/app.sh", "app/run");
    let id = r.commit("first");

    let committed = r.version("app");
    r.write("app/src/app.sh", "echo dirty\n").write("app/new", "untracked").write("app/x.tmp", "ignored");
    let tarred = r.tar("app", &committed);
    assert_eq!(tarred.paths(), [".gitignore", "Dockerfile", "run", "src", "src/app.sh"]);
    assert_eq!(tarred.content("src/app.sh"), "echo committed\n");
    assert_eq!(tarred.mode("src/app.sh"), 0o755);
    assert_eq!(tarred.mode("Dockerfile"), 0o644);
    assert_eq!(tarred.items["src"], Item::Dir);
    assert_eq!(tarred.items["run"], Item::Link("src/app.sh".into()));

    assert_eq!(committed, r.at("app", "Dockerfile", &id));

    // The working tree sends the disk as it is.
    let working = r.version("app");
    assert!(is_working(&working));
    let tarred = r.tar("app", &working);
    assert_eq!(tarred.paths(), [".gitignore", "Dockerfile", "new", "run", "src", "src/app.sh", "x.tmp"]);
    assert_eq!(tarred.content("src/app.sh"), "echo dirty\n");
    assert_eq!(tarred.mode("src/app.sh"), 0o755);
    assert_eq!(tarred.items["run"], Item::Link("src/app.sh".into()));
}

#[test]
fn tar_is_deterministic() {
    let r = Repo::git();
    r.write("app/Dockerfile", "FROM scratch\n").write("app/b/c", "c").write("app/a", "a");
    let id = r.commit("first");
    let committed = r.at("app", "Dockerfile", &id);
    let once = collect(context_tar(&r.root, "app", "Dockerfile", &committed).unwrap()).unwrap().concat();
    let twice = collect(context_tar(&r.root, "app", "Dockerfile", &committed).unwrap()).unwrap().concat();
    assert_eq!(once, twice);
    let working = r.working("app", "Dockerfile");
    let disk = collect(context_tar(&r.root, "app", "Dockerfile", &working).unwrap()).unwrap().concat();
    assert_eq!(once, disk, "the same files from git or disk make the same bytes");
}

#[test]
fn submodules_are_skipped() {
    let r = Repo::git();
    r.write("app/Dockerfile", "FROM scratch\n");
    let repo = r.repo.as_ref().unwrap();
    // A gitlink entry in the index, as a submodule leaves it.
    let mut index = repo.index().unwrap();
    let entry = git2::IndexEntry {
        ctime: git2::IndexTime::new(0, 0),
        mtime: git2::IndexTime::new(0, 0),
        dev: 0,
        ino: 0,
        mode: 0o160000,
        uid: 0,
        gid: 0,
        file_size: 0,
        id: git2::Oid::from_str("0123456789012345678901234567890123456789").unwrap(),
        flags: 0,
        flags_extended: 0,
        path: b"app/sub".to_vec(),
    };
    index.add_path(Path::new("app/Dockerfile")).unwrap();
    index.add(&entry).unwrap();
    let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
    let sig = git2::Signature::new("Test", "test@example.com", &git2::Time::new(1_700_000_000, 0)).unwrap();
    let id = repo.commit(Some("HEAD"), &sig, &sig, "with submodule", &tree, &[]).unwrap().to_string();
    let tarred = r.tar("app", &r.at("app", "Dockerfile", &id));
    assert_eq!(tarred.paths(), ["Dockerfile"]);
}

#[test]
fn missing_dockerfile_is_refused_before_streaming() {
    let r = Repo::git();
    r.write("app/Containerfile", "FROM scratch\n");
    let id = r.commit("first");
    let err = context_tar(&r.root, "app", "Dockerfile", &commit_version(&id)).err().unwrap();
    assert_eq!(invalid_problem(err), "has no Dockerfile");
    let mut working = commit_version(&id);
    working.from = ContextFrom::WorkingTree { why: String::new(), files: Vec::new(), more: 0 };
    let err = check_dockerfile(&r.root, "app", "Dockerfile", &working).unwrap_err();
    assert_eq!(invalid_problem(err), "has no Dockerfile");
    check_dockerfile(&r.root, "app", "./Containerfile", &commit_version(&id)).unwrap();
    check_dockerfile(&r.root, "app", "Containerfile", &working).unwrap();
    let err = check_dockerfile(&r.root, "app", "../Containerfile", &working).unwrap_err();
    assert!(invalid_problem(err).starts_with("has no ../Containerfile"));
}

#[test]
fn large_files_are_streamed_in_chunks() {
    let r = Repo::git();
    r.write("app/Dockerfile", "FROM scratch\n");
    let big: String = (0..5 * 1024 * 1024).map(|i| (b'a' + (i % 26) as u8) as char).collect();
    r.write("app/big", &big);
    let id = r.commit("big");
    for version in [r.at("app", "Dockerfile", &id), r.working("app", "Dockerfile")] {
        let chunks = collect(context_tar(&r.root, "app", "Dockerfile", &version).unwrap()).unwrap();
        assert!(chunks.len() > 1, "{} chunk(s)", chunks.len());
        assert!(chunks.iter().all(|c| c.len() <= tar::CHUNK));
        let tarred = Tarred::read(&chunks.concat());
        assert_eq!(tarred.content("big").len(), big.len());
        assert!(tarred.content("big") == big);
    }
}

#[test]
fn dropping_the_stream_stops_the_producer() {
    let r = Repo::plain();
    r.write("app/Dockerfile", "FROM scratch\n");
    r.write("app/big", &"x".repeat(2 * 1024 * 1024));
    let stream = context_tar(&r.root, "app", "Dockerfile", &r.version("app")).unwrap();
    drop(stream); // the thread sees a closed channel and ends; nothing hangs
}

#[test]
fn a_working_tree_changed_since_the_plan_is_refused_before_a_byte_is_sent() {
    let r = Repo::git();
    r.write("app/Dockerfile", "FROM scratch\n").write("app/a.txt", "a");
    r.commit("first");
    r.write("app/a.txt", "planned");
    let planned = r.version("app");
    assert!(is_working(&planned));
    assert_eq!(r.tar("app", &planned).content("a.txt"), "planned", "unchanged: sent");

    let changes: [&dyn Fn(&Repo); 4] = [
        &|r| {
            r.write("app/a.txt", "edited after the plan");
        },
        &|r| {
            r.write("app/new.txt", "added after the plan");
        },
        &|r| {
            r.chmod("app/a.txt", 0o755);
        },
        &|r| fs::remove_file(r.root.join("app/a.txt")).unwrap(),
    ];
    for change in changes {
        change(&r);
        match context_tar(&r.root, "app", "Dockerfile", &planned).err() {
            Some(ContextError::Changed { context, planned: p }) => {
                assert_eq!((context.as_str(), p.as_str()), ("app", &planned.content[..12]));
            }
            other => panic!("expected Changed, got {other:?}"),
        }
        let e = context_tar(&r.root, "app", "Dockerfile", &planned).err().unwrap().to_string();
        assert!(e.contains("changed since the plan") && e.contains("run `berth plan` again"), "{e}");
        // Put it back: the planned files are sent again.
        fs::remove_file(r.root.join("app/new.txt")).ok();
        r.write("app/a.txt", "planned").chmod("app/a.txt", 0o644);
        assert_eq!(r.tar("app", &planned).content("a.txt"), "planned");
    }
}

#[test]
fn a_commit_is_read_by_id_and_checked() {
    let r = Repo::git();
    r.write("app/Dockerfile", "FROM scratch\n").write("app/a.txt", "one");
    let first = r.commit("first");
    let planned = r.version("app");
    r.write("app/a.txt", "two");
    r.commit("second");
    assert_eq!(r.tar("app", &planned).content("a.txt"), "one", "the planned commit, not HEAD");

    // A content id that is not the commit's files: refused, nothing sent.
    let wrong = ContextVersion { content: "0".repeat(64), ..r.at("app", "Dockerfile", &first) };
    assert!(matches!(context_tar(&r.root, "app", "Dockerfile", &wrong), Err(ContextError::Changed { .. })));
}

#[test]
fn the_tar_hashes_what_it_writes() {
    let r = Repo::plain();
    r.write("app/Dockerfile", "FROM scratch\n")
        .write("app/x/y", "y")
        .write("app/.dockerignore", "z\n")
        .write("app/z", "z");
    r.symlink("x/y", "app/link");
    let ctx = Ctx::new(&r.root, "app").unwrap();
    let dir = ctx.disk_dir().unwrap();
    let filter = Filter::new(ctx.disk_ignore(&dir).unwrap(), "Dockerfile");
    let entries = tar::disk_entries(&dir, &filter).unwrap();
    let (bytes, written) = tar::write_tar(Vec::new(), &entries, None, "Dockerfile").unwrap();
    assert_eq!(written, tar::hash_entries(&entries, "Dockerfile").unwrap());
    assert_eq!(written.content, r.version("app").content);
    assert_eq!(Tarred::read(&bytes).paths(), [".dockerignore", "Dockerfile", "link", "x", "x/y"]);
}
