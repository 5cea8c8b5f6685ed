//! `TenantManager`: the registry of every tenant (slug → actor, host → slug), activation on first
//! message, passivation when idle, one_for_one restarts with an intensity limit, and the
//! operator's view. Requests for a running tenant go straight to its actor through `Routes`,
//! which the manager keeps; the rest pass through the manager. The tenant actor answers the
//! caller.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ractor::{Actor, ActorId, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use tokio::time::Instant;

mod disk;
mod health;
mod messages;
mod routes;
mod views;

pub use messages::{ManagerMsg, Target};
pub use routes::{Routed, Routes};

pub use views::{ChildView, HealthView, RunState, TenantView};

use disk::scan_tenants;
use messages::{ReplyPort, ViewPort};
use routes::{Activity, Route};

use crate::config::Mode;
use crate::domain::{HostName, Slug};
use crate::error::TenantError;
use crate::runtime::Shared;
use crate::supervision::RestartBudget;
use crate::tenant::Admission;
use crate::tenant::{
    Creation, Envelope, NewTenant, Request, RequestCtx, TenantActor, TenantArgs, TenantMsg,
    TenantStatus,
};

#[derive(Debug)]
pub struct TenantManager;

#[derive(Debug)]
pub struct ManagerArgs {
    pub shared: Arc<Shared>,
}

#[derive(Debug)]
enum Then {
    Passive,
    Restart(Vec<ViewPort>),
    Disable,
}

#[derive(Debug)]
enum Run {
    Passive,
    Active(ActorRef<TenantMsg>),
    /// Asked to passivate; requests wait here until it has stopped, so two actors never own
    /// one directory at once.
    Stopping {
        buffer: Vec<Envelope>,
        then: Then,
    },
    Failed,
    Disabled,
}

impl Run {
    /// Whether the tenant's actor runs (or is stopping).
    fn is_running(&self) -> bool {
        matches!(self, Run::Active(_) | Run::Stopping { .. })
    }
}

#[derive(Debug)]
struct Entry {
    hosts: Vec<HostName>,
    run: Run,
    budget: RestartBudget,
    last_error: Option<String>,
    inflight: Arc<AtomicUsize>,
    activity: Arc<Activity>,
}

impl Entry {
    fn new(hosts: Vec<HostName>, run: Run, shared: &Shared) -> Self {
        Self {
            hosts,
            run,
            budget: RestartBudget::new(shared.config.restart_max, shared.config.restart_window),
            last_error: None,
            inflight: Arc::new(AtomicUsize::new(0)),
            activity: Arc::new(Activity::new()),
        }
    }

    fn view(&self, slug: &Slug) -> TenantView {
        TenantView {
            slug: slug.clone(),
            state: match &self.run {
                Run::Active(_) | Run::Stopping { .. } => RunState::Active,
                Run::Passive => RunState::Passive,
                Run::Failed => RunState::Failed,
                Run::Disabled => RunState::Disabled,
            },
            restarts: self.budget.total(),
            last_error: self.last_error.clone(),
            inflight: self.inflight.load(Ordering::Relaxed),
            last_activity: self.activity.last_request(),
            hosts: self.hosts.clone(),
            journal_len: None,
            last_seq: None,
            snapshot_kept_bytes: None,
            children: Vec::new(),
        }
    }
}

#[derive(Debug)]
pub struct ManagerState {
    shared: Arc<Shared>,
    entries: HashMap<Slug, Entry>,
    hosts: HashMap<HostName, Slug>,
    by_actor: HashMap<ActorId, Slug>,
    shutdown: Option<RpcReplyPort<()>>,
}

impl Actor for TenantManager {
    type Msg = ManagerMsg;
    type State = ManagerState;
    type Arguments = ManagerArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: ManagerArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        let shared = args.shared;
        let mut state = ManagerState {
            entries: HashMap::new(),
            hosts: HashMap::new(),
            by_actor: HashMap::new(),
            shutdown: None,
            shared: Arc::clone(&shared),
        };
        // Routes left by a manager that failed lead to actors this one does not own.
        shared.routes.clear();
        for (slug, found) in crate::store::blocking(|| scan_tenants(&shared.config.data_root))? {
            let entry = match found {
                Ok(meta) => {
                    let run = match meta.status {
                        TenantStatus::Enabled => Run::Passive,
                        TenantStatus::Disabled => Run::Disabled,
                    };
                    for host in &meta.hosts {
                        state.hosts.insert(host.clone(), slug.clone());
                        shared.routes.insert_host(host.clone(), slug.clone());
                    }
                    Entry::new(meta.hosts, run, &shared)
                }
                Err(reason) => {
                    tracing::error!(tenant = %slug, %reason, "tenant cannot be read; marked failed");
                    let mut entry = Entry::new(Vec::new(), Run::Failed, &shared);
                    entry.last_error = Some(reason);
                    entry
                }
            };
            state.entries.insert(slug, entry);
        }
        tracing::info!(tenants = state.entries.len(), "tenant registry loaded");
        if let Mode::OnPrem { tenant } = &shared.config.mode {
            if !state.entries.contains_key(tenant) {
                return Err(format!("the pinned tenant '{tenant}' does not exist").into());
            }
            state.activate(&myself, tenant, None).await;
        }
        let sweep =
            (shared.config.idle / 4).clamp(Duration::from_millis(50), Duration::from_secs(30));
        myself.send_interval(sweep, || ManagerMsg::Sweep);
        Ok(state)
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            ManagerMsg::Dispatch { target, envelope } => {
                state.dispatch(&myself, target, envelope).await;
            }
            ManagerMsg::Create { tenant, ctx, reply } => {
                state.create(&myself, tenant, ctx, reply).await;
            }
            ManagerMsg::List(reply) => {
                let mut views: Vec<TenantView> =
                    state.entries.iter().map(|(slug, e)| e.view(slug)).collect();
                views.sort_by(|a, b| a.slug.cmp(&b.slug));
                let _ = reply.send(views);
            }
            ManagerMsg::Inspect { slug, reply } => state.inspect(slug, reply),
            ManagerMsg::Restart { slug, reply } => state.restart(&myself, slug, reply).await,
            ManagerMsg::SetStatus {
                slug,
                status,
                ctx,
                reply,
            } => state.set_status(&myself, slug, status, ctx, reply).await,
            ManagerMsg::Health(reply) => {
                let _ = reply.send(state.health());
            }
            ManagerMsg::ActiveTenants(reply) => {
                let _ = reply.send(state.tenants_active());
            }
            ManagerMsg::TenantBroken { slug, reason } => {
                if let Some(entry) = state.entries.get_mut(&slug) {
                    state.shared.routes.remove(&slug);
                    entry.last_error = Some(reason);
                    if let Run::Active(actor) = std::mem::replace(&mut entry.run, Run::Failed) {
                        // Let it refuse what is already queued, then stop.
                        let _ = actor.drain();
                    }
                }
            }
            ManagerMsg::CreationFailed { slug } => {
                if let Some(entry) = state.entries.remove(&slug) {
                    for host in entry.hosts {
                        state.shared.routes.remove_host(&host);
                        state.hosts.remove(&host);
                    }
                }
            }
            ManagerMsg::Sweep => state.sweep(),
            ManagerMsg::Shutdown(reply) => {
                state.shutdown = Some(reply);
                for (slug, entry) in &mut state.entries {
                    if let Run::Active(actor) = &entry.run {
                        state.shared.routes.remove(slug);
                        let _ = actor.cast(TenantMsg::Passivate);
                        entry.run = Run::Stopping {
                            buffer: Vec::new(),
                            then: Then::Passive,
                        };
                    }
                }
                state.maybe_finish_shutdown();
            }
            #[cfg(feature = "fault-injection")]
            ManagerMsg::Fault { slug, fault, reply } => {
                match state.entries.get(&slug).map(|e| &e.run) {
                    Some(Run::Active(actor)) => {
                        let _ = actor.cast(TenantMsg::Fault(fault, reply));
                    }
                    Some(_) => {
                        let _ = reply.send(Err(TenantError::Unavailable("not active".into())));
                    }
                    None => {
                        let _ = reply.send(Err(TenantError::UnknownTenant));
                    }
                }
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<Self::Msg>,
        event: SupervisionEvent,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match event {
            SupervisionEvent::ActorTerminated(cell, _, reason) => {
                if let Some(slug) = state.by_actor.remove(&cell.get_id()) {
                    state.shared.routes.remove_actor(&slug, cell.get_id());
                    state.stopped(&myself, slug, reason, None).await;
                }
            }
            SupervisionEvent::ActorFailed(cell, err) => {
                if let Some(slug) = state.by_actor.remove(&cell.get_id()) {
                    state.shared.routes.remove_actor(&slug, cell.get_id());
                    state
                        .stopped(&myself, slug, None, Some(err.to_string()))
                        .await;
                }
            }
            _ => {}
        }
        Ok(())
    }
}

impl ManagerState {
    fn resolve(&self, target: &Target) -> Option<Slug> {
        if let Mode::OnPrem { tenant } = &self.shared.config.mode {
            return match target {
                Target::Slug(slug) if slug != tenant => None,
                _ => Some(tenant.clone()),
            };
        }
        let slug = match target {
            Target::Slug(slug) => slug.clone(),
            Target::Host(host) => match self.hosts.get(host) {
                Some(slug) => slug.clone(),
                None => {
                    let base = self.shared.config.base_domain.as_ref()?;
                    let label = host
                        .as_str()
                        .strip_suffix(base.as_str())?
                        .strip_suffix('.')?;
                    Slug::parse(label).ok()?
                }
            },
        };
        self.entries.contains_key(&slug).then_some(slug)
    }

    async fn dispatch(
        &mut self,
        myself: &ActorRef<ManagerMsg>,
        target: Target,
        envelope: Envelope,
    ) {
        if self.shutdown.is_some() {
            return envelope.refuse(TenantError::Unavailable("shutting down".into()));
        }
        let Some(slug) = self.resolve(&target) else {
            return envelope.refuse(TenantError::UnknownTenant);
        };
        if let Some(Run::Passive) = self.entries.get(&slug).map(|e| &e.run) {
            self.activate(myself, &slug, None).await;
        }
        let max = self.shared.config.max_inflight_per_tenant;
        let now = self.shared.clock.now();
        let Some(entry) = self.entries.get_mut(&slug) else {
            return envelope.refuse(TenantError::UnknownTenant);
        };
        let mut envelope = envelope;
        match &mut entry.run {
            Run::Disabled => envelope.refuse(TenantError::Disabled),
            Run::Failed | Run::Passive => envelope.refuse(TenantError::Unavailable(
                entry.last_error.clone().unwrap_or_else(|| "failed".into()),
            )),
            Run::Stopping { buffer, .. } => match Admission::try_take(&entry.inflight, max) {
                Some(admission) => {
                    envelope.admission = Some(admission);
                    buffer.push(envelope);
                }
                None => envelope.refuse(TenantError::Overloaded),
            },
            Run::Active(actor) => match Admission::try_take(&entry.inflight, max) {
                Some(admission) => {
                    entry.activity.touch(now);
                    envelope.admission = Some(admission);
                    if let Err(ractor::MessagingErr::SendErr(TenantMsg::Request(envelope))) =
                        actor.send_message(TenantMsg::Request(envelope))
                    {
                        envelope.refuse(TenantError::Unavailable("restarting".into()));
                    }
                }
                None => envelope.refuse(TenantError::Overloaded),
            },
        }
    }

    /// Spawns the tenant's actor; it loads itself from disk in its first message.
    async fn activate(
        &mut self,
        myself: &ActorRef<ManagerMsg>,
        slug: &Slug,
        creation: Option<Creation>,
    ) {
        let args = TenantArgs {
            slug: slug.clone(),
            shared: Arc::clone(&self.shared),
            manager: myself.clone(),
            creation,
        };
        let name = self.shared.actor_name("tenant", slug);
        let spawned = Actor::spawn_linked(Some(name), TenantActor, args, myself.get_cell()).await;
        let Some(entry) = self.entries.get_mut(slug) else {
            return;
        };
        match spawned {
            Ok((actor, _)) => {
                self.by_actor.insert(actor.get_id(), slug.clone());
                entry.activity.keep_alive();
                self.shared.routes.insert(
                    slug.clone(),
                    Route {
                        actor: actor.clone(),
                        inflight: Arc::clone(&entry.inflight),
                        activity: Arc::clone(&entry.activity),
                    },
                );
                entry.run = Run::Active(actor);
            }
            Err(err) => {
                tracing::error!(tenant = %slug, error = %err, "tenant actor did not start");
                entry.last_error = Some(err.to_string());
                entry.run = Run::Failed;
            }
        }
    }

    async fn create(
        &mut self,
        myself: &ActorRef<ManagerMsg>,
        tenant: NewTenant,
        ctx: RequestCtx,
        reply: ReplyPort,
    ) {
        if matches!(self.shared.config.mode, Mode::OnPrem { .. }) {
            let _ = reply.send(Err(TenantError::NotInThisMode));
            return;
        }
        if self.entries.contains_key(&tenant.slug) {
            let _ = reply.send(Err(TenantError::Conflict(format!(
                "tenant '{}' already exists",
                tenant.slug
            ))));
            return;
        }
        if let Some(host) = tenant.hosts.iter().find(|h| self.hosts.contains_key(*h)) {
            let _ = reply.send(Err(TenantError::Conflict(format!(
                "host '{host}' belongs to another tenant"
            ))));
            return;
        }
        let slug = tenant.slug.clone();
        for host in &tenant.hosts {
            self.hosts.insert(host.clone(), slug.clone());
            self.shared.routes.insert_host(host.clone(), slug.clone());
        }
        let entry = Entry::new(tenant.hosts.clone(), Run::Passive, &self.shared);
        self.entries.insert(slug.clone(), entry);
        let creation = Creation { tenant, ctx, reply };
        self.activate(myself, &slug, Some(creation)).await;
    }

    fn inspect(&self, slug: Slug, reply: ViewPort) {
        let Some(entry) = self.resolve(&Target::Slug(slug)).and_then(|s| {
            let entry = self.entries.get(&s)?;
            Some((s, entry))
        }) else {
            let _ = reply.send(Err(TenantError::UnknownTenant));
            return;
        };
        let (slug, entry) = entry;
        let view = entry.view(&slug);
        match &entry.run {
            Run::Active(actor) => {
                if let Err(ractor::MessagingErr::SendErr(TenantMsg::Inspect { view, reply })) =
                    actor.send_message(TenantMsg::Inspect { view, reply })
                {
                    let _ = reply.send(Ok(view));
                }
            }
            _ => {
                let _ = reply.send(Ok(view));
            }
        }
    }

    async fn restart(&mut self, myself: &ActorRef<ManagerMsg>, slug: Slug, reply: ViewPort) {
        let Some(entry) = self.resolve(&Target::Slug(slug)).and_then(|s| {
            let entry = self.entries.get_mut(&s)?;
            Some((s, entry))
        }) else {
            let _ = reply.send(Err(TenantError::UnknownTenant));
            return;
        };
        let (slug, entry) = entry;
        entry.budget.reset();
        match &mut entry.run {
            Run::Disabled => {
                let _ = reply.send(Err(TenantError::Conflict(
                    "the tenant is disabled; enable it instead".into(),
                )));
            }
            Run::Stopping {
                then: Then::Restart(waiting),
                ..
            } => waiting.push(reply),
            Run::Stopping { .. } => {
                let _ = reply.send(Err(TenantError::Conflict(
                    "the tenant is stopping; try again".into(),
                )));
            }
            Run::Active(actor) => {
                self.shared.routes.remove(&slug);
                let _ = actor.cast(TenantMsg::Passivate);
                entry.run = Run::Stopping {
                    buffer: Vec::new(),
                    then: Then::Restart(vec![reply]),
                };
            }
            Run::Passive | Run::Failed => {
                entry.last_error = None;
                self.activate(myself, &slug, None).await;
                self.inspect(slug, reply);
            }
        }
    }

    async fn set_status(
        &mut self,
        myself: &ActorRef<ManagerMsg>,
        slug: Slug,
        status: TenantStatus,
        ctx: RequestCtx,
        reply: ReplyPort,
    ) {
        let Some(slug) = self.resolve(&Target::Slug(slug)) else {
            let _ = reply.send(Err(TenantError::UnknownTenant));
            return;
        };
        let current = self.entries.get(&slug).map(|e| match e.run {
            Run::Disabled => Some(TenantStatus::Disabled),
            Run::Active(_) | Run::Passive => Some(TenantStatus::Enabled),
            Run::Failed | Run::Stopping { .. } => None,
        });
        match (current.flatten(), status) {
            (None, _) => {
                let _ = reply.send(Err(TenantError::Conflict(
                    "the tenant is failed or stopping; restart it first".into(),
                )));
                return;
            }
            (Some(now), wanted) if now == wanted => {
                let _ = reply.send(Err(TenantError::Conflict(format!(
                    "the tenant is already {}",
                    if wanted == TenantStatus::Enabled {
                        "enabled"
                    } else {
                        "disabled"
                    }
                ))));
                return;
            }
            _ => {}
        }
        let needs_start = self
            .entries
            .get(&slug)
            .is_some_and(|e| matches!(e.run, Run::Passive | Run::Disabled));
        if needs_start {
            self.activate(myself, &slug, None).await;
        }
        let Some(entry) = self.entries.get_mut(&slug) else {
            return;
        };
        let Run::Active(actor) = &entry.run else {
            let _ = reply.send(Err(TenantError::Unavailable("did not start".into())));
            return;
        };
        let envelope = Envelope::new(ctx, Request::SetStatus(status), reply);
        let _ = actor.send_message(TenantMsg::Request(envelope));
        if status == TenantStatus::Disabled {
            self.shared.routes.remove(&slug);
            let _ = actor.cast(TenantMsg::Passivate);
            entry.run = Run::Stopping {
                buffer: Vec::new(),
                then: Then::Disable,
            };
        }
    }

    /// A tenant actor has stopped (cleanly, or by `failure`); decide what comes next.
    async fn stopped(
        &mut self,
        myself: &ActorRef<ManagerMsg>,
        slug: Slug,
        reason: Option<String>,
        failure: Option<String>,
    ) {
        let Some(entry) = self.entries.get_mut(&slug) else {
            return;
        };
        if let Some(err) = &failure {
            tracing::error!(tenant = %slug, error = %err, "tenant actor failed");
            entry.last_error = Some(err.clone());
        }
        let run = std::mem::replace(&mut entry.run, Run::Passive);
        match run {
            Run::Stopping { buffer, then } => {
                let restart_waiters = match then {
                    Then::Disable => {
                        entry.run = Run::Disabled;
                        for envelope in buffer {
                            envelope.refuse(TenantError::Disabled);
                        }
                        self.maybe_finish_shutdown();
                        return;
                    }
                    Then::Passive => Vec::new(),
                    Then::Restart(waiters) => waiters,
                };
                if self.shutdown.is_some() {
                    for envelope in buffer {
                        envelope.refuse(TenantError::Unavailable("shutting down".into()));
                    }
                    for waiter in restart_waiters {
                        let _ = waiter.send(Err(TenantError::Unavailable("shutting down".into())));
                    }
                    self.maybe_finish_shutdown();
                    return;
                }
                if !buffer.is_empty() || !restart_waiters.is_empty() {
                    self.activate(myself, &slug, None).await;
                    for envelope in buffer {
                        self.forward(&slug, envelope);
                    }
                    for waiter in restart_waiters {
                        self.inspect(slug.clone(), waiter);
                    }
                }
            }
            Run::Failed => entry.run = Run::Failed,
            Run::Active(_) if failure.is_some() => {
                if self.shutdown.is_some() {
                    self.maybe_finish_shutdown();
                } else if entry.budget.allow(Instant::now()) {
                    tracing::warn!(tenant = %slug, "restarting tenant after failure");
                    self.activate(myself, &slug, None).await;
                } else {
                    tracing::error!(tenant = %slug, "tenant restarts too often; marked failed");
                    entry.run = Run::Failed;
                }
            }
            Run::Active(_) => {
                tracing::info!(tenant = %slug, reason = ?reason, "tenant actor stopped");
            }
            other => entry.run = other,
        }
        self.maybe_finish_shutdown();
    }

    /// Sends an already admitted request to an active tenant.
    fn forward(&mut self, slug: &Slug, envelope: Envelope) {
        match self.entries.get(slug).map(|e| &e.run) {
            Some(Run::Active(actor)) => {
                if let Err(ractor::MessagingErr::SendErr(TenantMsg::Request(envelope))) =
                    actor.send_message(TenantMsg::Request(envelope))
                {
                    envelope.refuse(TenantError::Unavailable("restarting".into()));
                }
            }
            _ => envelope.refuse(TenantError::Unavailable("did not start".into())),
        }
    }

    fn sweep(&mut self) {
        let idle = self.shared.config.idle;
        let pinned = match &self.shared.config.mode {
            Mode::OnPrem { tenant } => Some(tenant.clone()),
            Mode::Cloud => None,
        };
        for (slug, entry) in &mut self.entries {
            if Some(slug) == pinned.as_ref() || entry.activity.idle_for() < idle {
                continue;
            }
            if entry.inflight.load(Ordering::Acquire) > 0 {
                continue;
            }
            // Checked again under the routes' write lock: a request sent straight to the actor
            // may have arrived since.
            if let Run::Active(actor) = &entry.run
                && self.shared.routes.remove_if_idle(slug, idle)
            {
                let _ = actor.cast(TenantMsg::Passivate);
                entry.run = Run::Stopping {
                    buffer: Vec::new(),
                    then: Then::Passive,
                };
            }
        }
    }

    fn maybe_finish_shutdown(&mut self) {
        let busy = self.entries.values().any(|e| e.run.is_running());
        if !busy && let Some(reply) = self.shutdown.take() {
            let _ = reply.send(());
        }
    }
}
