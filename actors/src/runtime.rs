//! `Runtime`: starts the supervision tree (root → tenant manager → tenants → children) over a
//! locked data root, hands out the way to reach the manager, and shuts it all down cleanly.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef, SupervisionEvent};
use tokio::task::JoinHandle;

use crate::children::couriers::{CourierError, Couriers};
use crate::clock::Clock;
use crate::config::RuntimeConfig;
use crate::domain::Slug;
use crate::manager::{ManagerArgs, ManagerMsg, Routes, TenantManager};
use crate::store::tenants_dir;
use crate::supervision::RestartBudget;

/// What every actor of one runtime shares: settings, the clock, and the prefix of actor names
/// (several runtimes may live in one process, in tests).
#[derive(Debug)]
pub struct Shared {
    pub config: RuntimeConfig,
    pub clock: Clock,
    /// Running tenants, for requests that need no decision by the manager.
    pub(crate) routes: Arc<Routes>,
    /// The ways out for mail and WhatsApp messages, shared by every tenant's notifier.
    pub(crate) couriers: Arc<Couriers>,
    instance: u64,
}

impl Shared {
    pub fn actor_name(&self, kind: &str, slug: &Slug) -> String {
        format!("{}/{kind}/{slug}", self.instance)
    }
    fn manager_name(&self) -> String {
        format!("{}/manager", self.instance)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("the data directory {0} is in use by another majlis process")]
    DataDirInUse(PathBuf),
    #[error("cannot prepare the data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the runtime did not start: {0}")]
    Spawn(String),
    #[error("cannot set up message delivery: {0}")]
    Delivery(#[from] CourierError),
}

/// The way to reach the current tenant manager; it is looked up by name on every use, so a
/// manager restarted by the root is found again.
#[derive(Debug, Clone)]
pub struct ManagerHandle {
    name: String,
    routes: Arc<Routes>,
}

impl ManagerHandle {
    /// The direct way to running tenants (see `Routes`).
    pub fn routes(&self) -> &Routes {
        &self.routes
    }

    pub fn get(&self) -> Option<ActorRef<ManagerMsg>> {
        ractor::registry::where_is(self.name.clone()).map(ActorRef::from)
    }
}

#[derive(Debug)]
pub struct Runtime {
    shared: Arc<Shared>,
    root: ActorRef<RootMsg>,
    root_task: JoinHandle<()>,
    _lock: File,
}

impl Runtime {
    /// Locks the data root, loads the tenant registry and starts the tree.
    pub async fn start(config: RuntimeConfig, clock: Clock) -> Result<Self, StartError> {
        static INSTANCES: AtomicU64 = AtomicU64::new(0);
        let lock = lock_data_root(&config.data_root)?;
        let couriers = Arc::new(Couriers::build(&config.delivery)?);
        let routes = Arc::new(Routes::new(
            config.mode.clone(),
            config.base_domain.clone(),
            config.max_inflight_per_tenant,
            clock.clone(),
        ));
        let shared = Arc::new(Shared {
            config,
            clock,
            routes,
            couriers,
            instance: INSTANCES.fetch_add(1, Ordering::Relaxed),
        });
        let (root, root_task) = Actor::spawn(None, RootActor, Arc::clone(&shared))
            .await
            .map_err(|e| StartError::Spawn(e.to_string()))?;
        Ok(Self {
            shared,
            root,
            root_task,
            _lock: lock,
        })
    }

    pub fn manager(&self) -> ManagerHandle {
        ManagerHandle {
            name: self.shared.manager_name(),
            routes: Arc::clone(&self.shared.routes),
        }
    }

    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Passivates every tenant (snapshots and audit trails written), then stops the tree.
    pub async fn shutdown(self) {
        if let Some(manager) = self.manager().get() {
            let done = manager
                .call(ManagerMsg::Shutdown, Some(Duration::from_secs(30)))
                .await;
            if !matches!(done, Ok(ractor::rpc::CallResult::Success(()))) {
                tracing::warn!("tenants did not all stop in time");
            }
        }
        self.root.stop(None);
        let _ = self.root_task.await;
    }

    /// Resolves when the root has given up (the manager kept failing).
    pub async fn stopped(&mut self) {
        let _ = (&mut self.root_task).await;
    }
}

fn lock_data_root(root: &std::path::Path) -> Result<File, StartError> {
    let prepare = |source| StartError::DataDir {
        path: root.to_owned(),
        source,
    };
    std::fs::create_dir_all(tenants_dir(root)).map_err(prepare)?;
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(root.join("majlis.lock"))
        .map_err(prepare)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => return Err(StartError::DataDirInUse(root.to_owned())),
        Err(TryLockError::Error(e)) => return Err(prepare(e)),
    }
    file.set_len(0)
        .and_then(|()| writeln!(file, "{}", std::process::id()))
        .map_err(prepare)?;
    Ok(file)
}

#[derive(Debug)]
pub enum RootMsg {}

/// The top of the tree: keeps one tenant manager running, within the restart budget.
#[derive(Debug)]
struct RootActor;

#[derive(Debug)]
struct RootState {
    shared: Arc<Shared>,
    budget: RestartBudget,
}

impl RootActor {
    async fn spawn_manager(
        myself: &ActorRef<RootMsg>,
        shared: &Arc<Shared>,
    ) -> Result<(), ActorProcessingErr> {
        let args = ManagerArgs {
            shared: Arc::clone(shared),
        };
        Actor::spawn_linked(
            Some(shared.manager_name()),
            TenantManager,
            args,
            myself.get_cell(),
        )
        .await?;
        Ok(())
    }
}

impl Actor for RootActor {
    type Msg = RootMsg;
    type State = RootState;
    type Arguments = Arc<Shared>;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        shared: Arc<Shared>,
    ) -> Result<Self::State, ActorProcessingErr> {
        Self::spawn_manager(&myself, &shared).await?;
        let budget = RestartBudget::new(shared.config.restart_max, shared.config.restart_window);
        Ok(RootState { shared, budget })
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<Self::Msg>,
        event: SupervisionEvent,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match event {
            SupervisionEvent::ActorFailed(_, err) => {
                tracing::error!(error = %err, "tenant manager failed");
                if !state.budget.allow(tokio::time::Instant::now()) {
                    return Err("tenant manager restarts too often".into());
                }
                Self::spawn_manager(&myself, &state.shared).await?;
            }
            SupervisionEvent::ActorTerminated(_, _, _) => myself.stop(None),
            _ => {}
        }
        Ok(())
    }
}
