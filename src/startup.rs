//! Start-up: [`start`] runs the roles a command asks for (the HTTP server, the worker with
//! its dead-letter monitor and reconciler) on a bundle of ports, until [`Shutdown`] says
//! stop. `main`, the test harness and the bench all start Orderflow through it, so what a
//! test drives is what an instance runs. The caller builds the ports (see [`crate::app`])
//! and owns the shutdown, as in mini-redis's `server::run(listener, shutdown)`.

use crate::config::Settings;
use crate::dlq::DlqMonitor;
use crate::http::Application;
use crate::ports::Services;
use crate::reconciler::Reconciler;
use crate::worker::Worker;
use futures_util::FutureExt;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// What a process runs: `serve` the storefront and API, `work` the queue (with the DLQ
/// monitor and the reconciler), or both (`dev`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Roles {
    pub serve: bool,
    pub work: bool,
}

impl Roles {
    pub const DEV: Roles = Roles {
        serve: true,
        work: true,
    };
    pub const SERVE: Roles = Roles {
        serve: true,
        work: false,
    };
    pub const WORKER: Roles = Roles {
        serve: false,
        work: true,
    };

    /// Whether these roles price orders, and so need the catalog seeded at start-up.
    pub fn seeds_catalog(self) -> bool {
        self.serve
    }
}

/// How a running Orderflow is told to stop. Clones share the same state.
///
/// - [`Shutdown::stop`] (SIGTERM, `systemctl stop`): `serve` first drains (`/readyz` fails
///   and requests are still served for `http.drain_secs`), then stops.
/// - [`Shutdown::now`] (SIGINT, Ctrl-C, or what the lifecycle hook's watcher sends after the
///   load balancer has drained the instance): skips the drain window (or cuts one in
///   progress short), stops accepting at once and lets in-flight requests finish.
///
/// The worker stops the same way either way: it finishes the messages it holds.
#[derive(Debug, Clone, Default)]
pub struct Shutdown {
    stop: CancellationToken,
    fast: CancellationToken,
}

impl Shutdown {
    pub fn new() -> Shutdown {
        Shutdown::default()
    }

    /// Stop, with the drain.
    pub fn stop(&self) {
        self.stop.cancel();
    }

    /// Stop without the drain.
    pub fn now(&self) {
        self.fast.cancel();
        self.stop.cancel();
    }

    pub fn is_stopping(&self) -> bool {
        self.stop.is_cancelled()
    }

    /// Turns the process's stop signals into [`Shutdown::stop`] (SIGTERM) and
    /// [`Shutdown::now`] (SIGINT), for the life of the process.
    pub async fn on_signals(self) {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            if let (Ok(mut term), Ok(mut int)) = (
                signal(SignalKind::terminate()),
                signal(SignalKind::interrupt()),
            ) {
                loop {
                    tokio::select! {
                        _ = term.recv() => {
                            tracing::info!("SIGTERM received: shutting down (with the drain)");
                            self.stop();
                        }
                        _ = int.recv() => {
                            tracing::info!("SIGINT received: shutting down without the drain");
                            self.now();
                        }
                    }
                }
            }
        }
        let _ = tokio::signal::ctrl_c().await;
        self.now();
    }
}

/// A started Orderflow: where it listens, and its tasks until they end.
pub struct Started {
    /// The HTTP port (`serve` roles), useful when `http.addr` asked for port 0.
    pub port: Option<u16>,
    /// The separate metrics listener's port, when one was configured.
    pub metrics_port: Option<u16>,
    tasks: JoinSet<anyhow::Result<()>>,
    shutdown: Shutdown,
}

impl Started {
    /// Waits until every part has stopped. Whatever ends first (the shutdown, or a part
    /// failing) stops the rest; the first error is returned.
    pub async fn wait(mut self) -> anyhow::Result<()> {
        let mut result = Ok(());
        while let Some(joined) = self.tasks.join_next().await {
            self.shutdown.stop();
            let failed = match joined {
                Ok(Ok(())) => continue,
                Ok(Err(e)) => e,
                Err(e) => anyhow::anyhow!("task panicked: {e}"),
            };
            if result.is_ok() {
                result = Err(failed);
            }
        }
        tracing::info!("stopped");
        result
    }
}

/// Starts `roles` on `services`: binds the listeners (so a port-0 address is known when this
/// returns) and spawns every part. Errors binding or building stop start-up.
pub async fn start(
    settings: Arc<Settings>,
    services: Services,
    roles: Roles,
    shutdown: Shutdown,
) -> anyhow::Result<Started> {
    let mut started = Started {
        port: None,
        metrics_port: None,
        tasks: JoinSet::new(),
        shutdown: shutdown.clone(),
    };
    if roles.serve {
        let app = Application::build(settings.clone(), services.clone())?;
        tracing::info!(backend = ?settings.backend, addr = %settings.http.addr, port = app.port(), "listening: open http://{}", settings.http.addr);
        started.port = Some(app.port());
        started.metrics_port = app.metrics_port();
        let drain = Duration::from_secs(settings.http.drain_secs);
        started.tasks.spawn(serve(app, drain, shutdown.clone()));
    }
    if roles.work {
        let monitor = Arc::new(DlqMonitor::new(
            services.clone(),
            Duration::from_secs(settings.worker.dlq_poll_secs),
        ));
        let worker = Arc::new(
            Worker::from_settings(services.clone(), &settings)
                .with_dlq_signal(monitor.growth_signal()),
        );
        let reconciler = Arc::new(Reconciler::new(
            services.clone(),
            Duration::from_secs(settings.worker.reconcile_secs),
            Duration::from_secs(settings.worker.stuck_after_secs),
        ));
        let stop = shutdown.stop.clone();
        started
            .tasks
            .spawn(monitor.run_until_stopped(stop.clone()).map(Ok));
        started
            .tasks
            .spawn(reconciler.run_until_stopped(stop.clone()).map(Ok));
        started
            .tasks
            .spawn(worker.run_until_stopped(stop.clone()).map(Ok));
        // `serve` answers /metrics itself; a worker alone has its own listener.
        if let (false, Some(addr)) = (roles.serve, &settings.metrics.worker_addr) {
            let (port, server) = crate::http::metrics_server(addr, services.queue.clone())?;
            tracing::info!(%addr, port, "worker metrics on /metrics");
            started.metrics_port = Some(port);
            let handle = server.handle();
            let server = tokio::spawn(server);
            started.tasks.spawn(async move {
                stop.cancelled().await;
                handle.stop(false).await;
                let _ = server.await;
                Ok(())
            });
        }
    }
    Ok(started)
}

/// [`start`], then [`Started::wait`].
pub async fn run(
    settings: Arc<Settings>,
    services: Services,
    roles: Roles,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    start(settings, services, roles, shutdown)
        .await?
        .wait()
        .await
}

/// The HTTP server until the shutdown: on [`Shutdown::stop`] it fails `/readyz` and keeps
/// serving for `drain` while the load balancer takes the instance out (unless
/// [`Shutdown::now`] says the load balancer is done with it already), then stops accepting;
/// requests in flight get up to the shutdown timeout to finish.
async fn serve(app: Application, drain: Duration, shutdown: Shutdown) -> anyhow::Result<()> {
    let handle = app.handle();
    let draining = app.draining();
    // The server runs as its own task: `handle.stop` needs it polled to take effect.
    let mut server = tokio::spawn(app.run_until_stopped());
    let finished = |r: Result<std::io::Result<()>, tokio::task::JoinError>| match r {
        Ok(r) => r.map_err(anyhow::Error::from),
        Err(e) => Err(anyhow::anyhow!("http server task: {e}")),
    };
    tokio::select! {
        r = &mut server => return finished(r),
        _ = shutdown.stop.cancelled() => {}
    }
    draining.store(true, Ordering::SeqCst);
    if !drain.is_zero() && !shutdown.fast.is_cancelled() {
        tracing::info!(
            drain_secs = drain.as_secs(),
            "draining: /readyz fails, still serving"
        );
        tokio::select! {
            r = &mut server => return finished(r),
            _ = tokio::time::sleep(drain) => {}
            _ = shutdown.fast.cancelled() => tracing::info!("SIGINT: the drain is cut short"),
        }
    }
    handle.stop(true).await;
    finished(server.await)
}
