//! Repository files mounted into containers: their volumes, and what a
//! change of their content does.

use super::*;
use crate::desired::{files_helper, files_volume, RepoFiles};

fn files(path: &str, fill: char) -> RepoFiles {
    RepoFiles { path: path.into(), content: fill.to_string().repeat(64), count: 2, bytes: 1536 }
}

/// `c` mounting `f` at /srv, as resolve makes it.
fn mounting(mut c: DesiredContainer, f: &RepoFiles) -> DesiredContainer {
    c.config.mounts = vec![Mount {
        kind: MountKind::Files,
        source: files_volume("p", &f.content),
        target: "/srv".into(),
        read_only: true,
        files: Some(f.clone()),
    }];
    c
}

/// Running as the engine reports it: the files' volume is a plain volume there.
fn live(c: &DesiredContainer) -> ObservedContainer {
    let mut o = running(c, ID_A);
    for m in &mut o.live.as_mut().unwrap().config.mounts {
        (m.kind, m.files) = (MountKind::Volume, None);
    }
    o
}

#[test]
fn a_missing_volume_of_files_is_filled_before_the_containers() {
    let f = files("site", 'a');
    let c = mounting(container("web", "web", 1), &f);
    let p = plan(&desired(vec![app("web", vec![c.clone()])]), &observed(vec![]));
    let volume = "p_files-aaaaaaaaaaaa";
    assert_eq!(kinds(&p), vec![(Volume, volume), (Create, "p-web-web-1")]);
    let a = &p.actions[0];
    assert_eq!((a.symbol(), a.app.as_str()), ("+", "web"));
    assert_eq!(a.reason, "repository files ./site for app web: 2 files, 1.5 KiB");
    assert_eq!(a.detail, ActionDetail::CreateVolume { name: volume.into(), files: Some(f) });
    assert_eq!(p.summary.volume, 1);
    let created = &p.actions[1].changes;
    assert!(
        created.iter().any(|c| c.path == "volumes" && c.new.as_deref() == Some("./site:/srv:ro (files aaaaaaaaaaaa)")),
        "{created:#?}"
    );
}

#[test]
fn files_in_place_plan_nothing() {
    let c = mounting(container("web", "web", 1), &files("site", 'a'));
    let mut o = observed(vec![live(&c)]);
    o.volumes.insert("p_files-aaaaaaaaaaaa".into());
    let p = plan(&desired(vec![app("web", vec![c])]), &o);
    assert!(p.is_empty(), "{:#?}", p.actions);
}

#[test]
fn an_unfinished_fill_is_filled_again() {
    let c = mounting(container("web", "web", 1), &files("site", 'a'));
    let mut o = observed(vec![live(&c)]);
    o.volumes.insert("p_files-aaaaaaaaaaaa".into());
    o.others.push(other(&files_helper("p_files-aaaaaaaaaaaa"), None, &[]));
    let p = plan(&desired(vec![app("web", vec![c])]), &o);
    assert_eq!(kinds(&p), vec![(Volume, "p_files-aaaaaaaaaaaa")]);
    assert!(p.actions[0].reason.ends_with("; an earlier fill did not finish"), "{}", p.actions[0].reason);
}

#[test]
fn new_content_is_a_new_volume_and_a_replace_that_says_so() {
    let old = mounting(container("web", "web", 1), &files("site", 'a'));
    let new = mounting(container("web", "web", 1), &files("site", 'b'));
    let mut o = observed(vec![live(&old)]);
    o.volumes.insert("p_files-aaaaaaaaaaaa".into());
    let p = plan(&desired(vec![app("web", vec![new])]), &o);
    assert_eq!(kinds(&p), vec![(Volume, "p_files-bbbbbbbbbbbb"), (Replace, "p-web-web-1")]);
    let r = &p.actions[1];
    assert_eq!(r.reason, "repository files ./site changed");
    assert_eq!(
        r.changes,
        [FieldChange {
            path: "volumes".into(),
            old: Some("./site:/srv:ro (files aaaaaaaaaaaa)".into()),
            new: Some("./site:/srv:ro (files bbbbbbbbbbbb)".into()),
            sensitive: false,
        }]
    );
    // Read-only files are no second writer: no reason to stop first.
    assert_eq!(order_of(&Plan { actions: p.actions[1..].to_vec(), ..p.clone() }).0, ReplaceStrategy::StartFirst);
}

#[test]
fn another_folder_or_target_is_a_volumes_change() {
    let old = mounting(container("web", "web", 1), &files("site", 'a'));
    let new = mounting(container("web", "web", 1), &files("www", 'a'));
    let mut o = observed(vec![live(&old)]);
    o.volumes.insert("p_files-aaaaaaaaaaaa".into());
    let p = plan(&desired(vec![app("web", vec![new])]), &o);
    assert_eq!(kinds(&p), vec![(Replace, "p-web-web-1")], "same content: the volume is there");
    assert_eq!(p.actions[0].reason, "volumes changed");
}

#[test]
fn a_container_with_a_bind_mount_of_the_checkout_is_replaced_once() {
    // As berth made it before repository files travelled to the engine.
    let mut old = container("web", "web", 1);
    old.config.mounts = vec![Mount {
        kind: MountKind::Bind,
        source: "/home/runner/work/repo/site".into(),
        target: "/srv".into(),
        read_only: true,
        files: None,
    }];
    let new = mounting(container("web", "web", 1), &files("site", 'a'));
    let mut o = observed(vec![running(&old, ID_A)]);
    o.volumes.insert("p_files-aaaaaaaaaaaa".into());
    let p = plan(&desired(vec![app("web", vec![new])]), &o);
    assert_eq!(kinds(&p), vec![(Replace, "p-web-web-1")]);
    assert_eq!(p.actions[0].reason, "volumes changed");
    assert_eq!(p.actions[0].changes[0].old.as_deref(), Some("bind /home/runner/work/repo/site:/srv:ro"));
}

#[test]
fn two_apps_with_the_same_files_share_one_fill() {
    let f = files("site", 'a');
    let d = desired(vec![
        app("api", vec![mounting(container("api", "web", 1), &f)]),
        app("web", vec![mounting(container("web", "web", 1), &f)]),
    ]);
    let p = plan(&d, &observed(vec![]));
    assert_eq!(kinds(&p), vec![(Volume, "p_files-aaaaaaaaaaaa"), (Create, "p-api-web-1"), (Create, "p-web-web-1")]);
    assert_eq!(p.actions[0].reason, "repository files ./site for app api, web: 2 files, 1.5 KiB");
}

#[test]
fn a_volume_of_files_changed_by_hand_is_drift() {
    let c = mounting(container("web", "web", 1), &files("site", 'a'));
    let mut o = live(&c);
    o.live.as_mut().unwrap().config.mounts[0].source = "p_other".into();
    let mut o = observed(vec![o]);
    o.volumes.insert("p_files-aaaaaaaaaaaa".into());
    let p = plan(&desired(vec![app("web", vec![c])]), &o);
    assert_eq!(kinds(&p), vec![(Replace, "p-web-web-1")]);
    assert!(p.actions[0].reason.starts_with("volumes changed by hand"), "{}", p.actions[0].reason);
}

/// `c` with the file `f` linked at /etc/app.conf, as resolve makes it.
fn linking(mut c: DesiredContainer, f: &RepoFiles) -> DesiredContainer {
    c.config.mounts.push(Mount {
        kind: MountKind::File,
        source: files_volume("p", &f.content),
        target: "/etc/app.conf".into(),
        read_only: true,
        files: Some(f.clone()),
    });
    c.config.mounts.sort();
    c
}

#[test]
fn a_file_is_filled_like_a_folder_and_its_mount_point_is_not_drift() {
    let f = RepoFiles { path: "conf/app.conf".into(), count: 1, bytes: 12, ..files("", 'c') };
    let c = linking(mounting(container("web", "web", 1), &files("site", 'a')), &f);
    let p = plan(&desired(vec![app("web", vec![c.clone()])]), &observed(vec![]));
    assert_eq!(
        kinds(&p),
        vec![(Volume, "p_files-aaaaaaaaaaaa"), (Volume, "p_files-cccccccccccc"), (Create, "p-web-web-1")]
    );
    assert_eq!(p.actions[1].reason, "repository files ./conf/app.conf for app web: 1 file, 12 bytes");
    let volumes = p.actions[2].changes.iter().find(|c| c.path == "volumes").unwrap();
    assert_eq!(
        volumes.new.as_deref(),
        Some("./site:/srv:ro (files aaaaaaaaaaaa), ./conf/app.conf:/etc/app.conf:ro (file cccccccccccc)")
    );
    // The engine shows the file's volume at its own mount point: as declared.
    let mut o = running(&c, ID_A);
    o.live.as_mut().unwrap().config.mounts = vec![
        Mount {
            kind: MountKind::Volume,
            source: "p_files-aaaaaaaaaaaa".into(),
            target: "/srv".into(),
            read_only: true,
            files: None,
        },
        Mount {
            kind: MountKind::Volume,
            source: "p_files-cccccccccccc".into(),
            target: "/.berth/p_files-cccccccccccc".into(),
            read_only: true,
            files: None,
        },
    ];
    let mut o = observed(vec![o]);
    o.volumes.extend(["p_files-aaaaaaaaaaaa".to_string(), "p_files-cccccccccccc".to_string()]);
    let p = plan(&desired(vec![app("web", vec![c.clone()])]), &o);
    assert!(p.is_empty(), "{:#?}", p.actions);
    // New content of the file replaces, and says which file.
    let g = RepoFiles { content: "d".repeat(64), ..f };
    let new = linking(mounting(container("web", "web", 1), &files("site", 'a')), &g);
    let p = plan(&desired(vec![app("web", vec![new])]), &o);
    assert_eq!(kinds(&p), vec![(Volume, "p_files-dddddddddddd"), (Replace, "p-web-web-1")]);
    assert_eq!(p.actions[1].reason, "repository files ./conf/app.conf changed");
}
