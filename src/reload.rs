//! Rule reloading triggers: changes in the rule files' directories (a Kubernetes ConfigMap
//! swaps a `..data` symlink, so directories are watched, not files) and SIGHUP. `POST /reload`
//! on the admin listener is the third trigger.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use notify::{RecursiveMode, Watcher};
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;

use crate::engine::{Engine, Trigger};

/// Quiet time after the last file event before reloading, so an editor's or kubelet's burst of
/// events leads to one reload.
const SETTLE: Duration = Duration::from_millis(150);

/// The directories to watch for a set of rule files: each file's directory, and the directory
/// of its resolved target when it is a symlink.
pub fn watch_dirs(files: &[PathBuf]) -> BTreeSet<PathBuf> {
    let mut dirs = BTreeSet::new();
    for f in files {
        if let Some(d) = f.parent() {
            dirs.insert(if d.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                d.to_owned()
            });
        }
        if let Ok(real) = std::fs::canonicalize(f)
            && let Some(d) = real.parent()
        {
            dirs.insert(d.to_owned());
        }
    }
    dirs
}

/// Whether a file event can mean changed contents. Reading a file (open, read, close after
/// reading) cannot; and a reload reads every rule file, so reacting to reads would wake the
/// reloader with its own reads, every `SETTLE`, for as long as the process runs.
fn may_change_contents(kind: &notify::EventKind) -> bool {
    use notify::event::{AccessKind, AccessMode};
    match kind {
        // A file closed after writing: its writes also came as `Modify`, but some backends
        // report only the close.
        notify::EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        notify::EventKind::Access(_) => false,
        _ => true,
    }
}

/// The background service that reloads rules on file changes and SIGHUP.
#[derive(Debug)]
pub struct Reloader {
    engine: Arc<Engine>,
}

impl Reloader {
    /// A reloader for an engine.
    pub fn new(engine: Arc<Engine>) -> Self {
        Reloader { engine }
    }

    fn reload(&self, trigger: Trigger) {
        // Errors are logged and counted by the engine; the old rules stay.
        let _ = self.engine.reload(trigger);
    }
}

#[async_trait]
impl BackgroundService for Reloader {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let (tx, mut events) = tokio::sync::mpsc::unbounded_channel::<()>();
        let mut watcher = match notify::recommended_watcher(
            move |res: notify::Result<notify::Event>| {
                if res.is_ok_and(|event| may_change_contents(&event.kind)) {
                    let _ = tx.send(());
                }
            },
        ) {
            Ok(w) => Some(w),
            Err(e) => {
                tracing::error!(error = %e, "cannot watch rule files; reload with SIGHUP or POST /reload");
                None
            }
        };
        if let Some(w) = watcher.as_mut() {
            for dir in watch_dirs(&self.engine.rule_files()) {
                match w.watch(&dir, RecursiveMode::NonRecursive) {
                    Ok(()) => tracing::info!(dir = %dir.display(), "watching rule files"),
                    Err(e) => {
                        tracing::error!(dir = %dir.display(), error = %e, "cannot watch rule directory")
                    }
                }
            }
        }
        let mut hangup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::error!(error = %e, "cannot handle SIGHUP");
                None
            }
        };
        loop {
            tokio::select! {
                _ = shutdown.changed() => break,
                Some(()) = async { match hangup.as_mut() { Some(h) => h.recv().await, None => std::future::pending().await } } => {
                    tracing::info!("SIGHUP: reloading rules");
                    self.reload(Trigger::Signal);
                }
                Some(()) = events.recv() => {
                    // Let the burst settle, then reload once if the contents changed.
                    while let Ok(Some(())) = tokio::time::timeout(SETTLE, events.recv()).await {}
                    self.reload(Trigger::Watch);
                }
            }
        }
        drop(watcher);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With the real watcher on a real directory: reading a rule file (as every reload does)
    /// wakes nothing; writing it does.
    #[test]
    fn reads_do_not_wake_the_reloader_and_writes_do() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("rules.toml");
        std::fs::write(&file, "# rules\n").unwrap();
        let (tx, rx) = std::sync::mpsc::channel::<notify::EventKind>();
        let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
            if let Ok(event) = res
                && may_change_contents(&event.kind)
            {
                let _ = tx.send(event.kind);
            }
        })
        .unwrap();
        watcher
            .watch(dir.path(), RecursiveMode::NonRecursive)
            .unwrap();
        for _ in 0..3 {
            assert_eq!(std::fs::read_to_string(&file).unwrap(), "# rules\n");
        }
        let woke = rx.recv_timeout(Duration::from_millis(500));
        assert!(woke.is_err(), "reading woke the reloader: {woke:?}");
        std::fs::write(&file, "# rules, changed\n").unwrap();
        let woke = rx.recv_timeout(Duration::from_secs(5));
        assert!(woke.is_ok(), "writing did not wake the reloader");
    }
}
