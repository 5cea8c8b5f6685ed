//! The direct way to running tenants: a request for an active tenant goes from the HTTP layer
//! straight into its actor's mailbox, counted against the tenant's in-flight bound, without a hop
//! through the manager. The manager alone writes this table; anything it does not hold (a
//! passive, stopping, failed or unknown tenant) is handed to the manager as before.
//!
//! Ordering: a request is admitted and sent while the table is read-locked, and the manager
//! takes a route out under the write lock *before* it asks the actor to passivate, so every
//! request sent this way is in the mailbox ahead of `Passivate`; two actors never own one
//! directory.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use ractor::{ActorId, ActorRef, MessagingErr};

use super::Target;
use crate::clock::Clock;
use crate::config::Mode;
use crate::domain::{HostName, Slug};
use crate::error::TenantError;
use crate::tenant::{Admission, Envelope, TenantMsg};

/// The active tenants and the registered hosts, shared by the manager and the HTTP layer.
#[derive(Debug)]
pub struct Routes {
    table: RwLock<Table>,
    mode: Mode,
    base_domain: Option<HostName>,
    max_inflight: usize,
    clock: Clock,
}

#[derive(Debug, Default)]
struct Table {
    active: HashMap<Slug, Route>,
    /// Hosts registered by tenants; they win over `<slug>.<base_domain>`.
    hosts: HashMap<HostName, Slug>,
}

/// What became of a request offered to `Routes::dispatch`.
#[derive(Debug)]
pub enum Routed {
    /// In the tenant's mailbox, or refused at its in-flight bound: its reply port answers.
    Done,
    /// For the manager to decide: activation, a stopping or failed tenant, an unknown host.
    ToManager(Box<Envelope>),
}

/// A running tenant actor with its in-flight count and its last use.
#[derive(Debug, Clone)]
pub(crate) struct Route {
    pub actor: ActorRef<TenantMsg>,
    pub inflight: Arc<AtomicUsize>,
    pub activity: Arc<Activity>,
}

impl Routes {
    pub(crate) fn new(
        mode: Mode,
        base_domain: Option<HostName>,
        max_inflight: usize,
        clock: Clock,
    ) -> Self {
        Self {
            table: RwLock::new(Table::default()),
            mode,
            base_domain,
            max_inflight,
            clock,
        }
    }

    /// Sends `envelope` to its tenant if that tenant is running, or refuses it when the tenant
    /// is at its in-flight bound. Hands the envelope back when the manager must decide.
    pub fn dispatch(&self, target: &Target, mut envelope: Envelope) -> Routed {
        let table = self.read();
        let Some(route) = self
            .slug_of(&table, target)
            .and_then(|s| table.active.get(&s))
        else {
            return Routed::ToManager(Box::new(envelope));
        };
        let Some(admission) = Admission::try_take(&route.inflight, self.max_inflight) else {
            envelope.refuse(TenantError::Overloaded);
            return Routed::Done;
        };
        route.activity.touch(self.clock.now());
        envelope.admission = Some(admission);
        match route.actor.send_message(TenantMsg::Request(envelope)) {
            Ok(()) => Routed::Done,
            // The actor has just stopped; the manager knows what comes next.
            Err(MessagingErr::SendErr(TenantMsg::Request(mut envelope))) => {
                envelope.admission = None;
                Routed::ToManager(Box::new(envelope))
            }
            // Any other failure dropped the message, and its reply port with it: the caller is
            // told the request was dropped.
            Err(_) => Routed::Done,
        }
    }

    /// The slug a target names, as far as it can be known without the manager.
    fn slug_of(&self, table: &Table, target: &Target) -> Option<Slug> {
        match (&self.mode, target) {
            (Mode::OnPrem { tenant }, Target::Slug(slug)) => (slug == tenant).then(|| slug.clone()),
            (Mode::OnPrem { tenant }, Target::Host(_)) => Some(tenant.clone()),
            (Mode::Cloud, Target::Slug(slug)) => Some(slug.clone()),
            (Mode::Cloud, Target::Host(host)) => match table.hosts.get(host) {
                Some(slug) => Some(slug.clone()),
                None => {
                    let base = self.base_domain.as_ref()?;
                    let label = host
                        .as_str()
                        .strip_suffix(base.as_str())?
                        .strip_suffix('.')?;
                    Slug::parse(label).ok()
                }
            },
        }
    }

    pub(crate) fn insert(&self, slug: Slug, route: Route) {
        self.write().active.insert(slug, route);
    }

    /// Takes the route out; call before asking the actor to stop.
    pub(crate) fn remove(&self, slug: &Slug) {
        self.write().active.remove(slug);
    }

    /// Takes the route out if it still leads to `actor` (an actor that has stopped).
    pub(crate) fn remove_actor(&self, slug: &Slug, actor: ActorId) {
        let mut table = self.write();
        if table
            .active
            .get(slug)
            .is_some_and(|r| r.actor.get_id() == actor)
        {
            table.active.remove(slug);
        }
    }

    /// Takes the route out if nothing is in flight and it has been idle for `idle`; answers
    /// whether it did (then the actor may be asked to passivate).
    pub(crate) fn remove_if_idle(&self, slug: &Slug, idle: Duration) -> bool {
        let mut table = self.write();
        let idle_now = table.active.get(slug).is_some_and(|r| {
            r.inflight.load(Ordering::Acquire) == 0 && r.activity.idle_for() >= idle
        });
        if idle_now {
            table.active.remove(slug);
        }
        idle_now
    }

    pub(crate) fn clear(&self) {
        let mut table = self.write();
        table.active.clear();
        table.hosts.clear();
    }

    pub(crate) fn insert_host(&self, host: HostName, slug: Slug) {
        self.write().hosts.insert(host, slug);
    }

    pub(crate) fn remove_host(&self, host: &HostName) {
        self.write().hosts.remove(host);
    }

    fn read(&self) -> RwLockReadGuard<'_, Table> {
        // The table holds no invariant a panicking writer could break halfway.
        self.table.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Table> {
        self.table.write().unwrap_or_else(|e| e.into_inner())
    }
}

/// When a tenant was last used: monotonic for the idle sweep, by the runtime clock for views.
#[derive(Debug)]
pub(crate) struct Activity {
    epoch: Instant,
    touched_ms: AtomicU64,
    /// Milliseconds since the Unix epoch of the last request, `i64::MIN` before the first.
    last_ms: AtomicI64,
}

impl Activity {
    pub(crate) fn new() -> Self {
        Self {
            epoch: Instant::now(),
            touched_ms: AtomicU64::new(0),
            last_ms: AtomicI64::new(i64::MIN),
        }
    }

    /// A request arrived at `at`.
    pub(crate) fn touch(&self, at: Timestamp) {
        self.keep_alive();
        self.last_ms.store(at.as_millisecond(), Ordering::Relaxed);
    }

    /// Restarts the idle time without counting a request (an activation).
    pub(crate) fn keep_alive(&self) {
        let ms = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.touched_ms.store(ms, Ordering::Relaxed);
    }

    pub(crate) fn idle_for(&self) -> Duration {
        let touched = Duration::from_millis(self.touched_ms.load(Ordering::Relaxed));
        self.epoch.elapsed().saturating_sub(touched)
    }

    pub(crate) fn last_request(&self) -> Option<Timestamp> {
        match self.last_ms.load(Ordering::Relaxed) {
            i64::MIN => None,
            ms => Timestamp::from_millisecond(ms).ok(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tenant::{Request, RequestCtx};
    use ractor::{Actor, ActorProcessingErr};
    use tokio::sync::mpsc;

    /// Stands in for a tenant actor: hands every request it gets to the test, admission and all.
    struct Inbox;

    impl Actor for Inbox {
        type Msg = TenantMsg;
        type State = mpsc::UnboundedSender<Envelope>;
        type Arguments = mpsc::UnboundedSender<Envelope>;

        async fn pre_start(
            &self,
            _: ActorRef<TenantMsg>,
            sender: Self::Arguments,
        ) -> Result<Self::State, ActorProcessingErr> {
            Ok(sender)
        }

        async fn handle(
            &self,
            _: ActorRef<TenantMsg>,
            message: TenantMsg,
            sender: &mut Self::State,
        ) -> Result<(), ActorProcessingErr> {
            if let TenantMsg::Request(envelope) = message {
                let _ = sender.send(envelope);
            }
            Ok(())
        }
    }

    fn envelope() -> (
        Envelope,
        tokio::sync::oneshot::Receiver<Result<crate::tenant::Reply, TenantError>>,
    ) {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let envelope = Envelope::new(RequestCtx::system(), Request::PublicFace, reply.into());
        (envelope, answer)
    }

    #[tokio::test]
    async fn requests_go_straight_in_until_the_route_is_taken_out() {
        let slug = Slug::parse("acme").unwrap();
        let target = Target::Slug(slug.clone());
        let routes = Routes::new(Mode::Cloud, None, 1, Clock::system());
        assert!(
            matches!(routes.dispatch(&target, envelope().0), Routed::ToManager(_)),
            "no route yet"
        );

        let (sender, mut inbox) = mpsc::unbounded_channel();
        let (actor, handle) = Actor::spawn(None, Inbox, sender).await.unwrap();
        let route = Route {
            actor: actor.clone(),
            inflight: Arc::new(AtomicUsize::new(0)),
            activity: Arc::new(Activity::new()),
        };
        routes.insert(slug.clone(), route.clone());
        assert!(matches!(
            routes.dispatch(&target, envelope().0),
            Routed::Done
        ));
        let held = inbox.recv().await.unwrap();
        assert_eq!(route.inflight.load(Ordering::Acquire), 1);
        assert!(route.activity.last_request().is_some());

        // At the bound, the next request is refused as overloaded, not queued.
        let (refused, answer) = envelope();
        assert!(matches!(routes.dispatch(&target, refused), Routed::Done));
        assert!(matches!(answer.await, Ok(Err(TenantError::Overloaded))));

        // Nothing passivates while a request is in flight; once it is answered, the route goes
        // and every later request is handed back for the manager.
        assert!(!routes.remove_if_idle(&slug, Duration::ZERO));
        drop(held);
        assert!(routes.remove_if_idle(&slug, Duration::ZERO));
        assert!(matches!(
            routes.dispatch(&target, envelope().0),
            Routed::ToManager(_)
        ));

        // A route to a stopped actor hands the request back too, its admission returned.
        routes.insert(slug.clone(), route.clone());
        actor.stop(None);
        handle.await.unwrap();
        assert!(matches!(
            routes.dispatch(&target, envelope().0),
            Routed::ToManager(_)
        ));
        assert_eq!(route.inflight.load(Ordering::Acquire), 0);
        routes.remove_actor(&slug, actor.get_id());
        assert!(routes.read().active.is_empty());
    }

    #[test]
    fn activity_counts_idle_time_from_the_last_touch() {
        let activity = Activity::new();
        assert_eq!(activity.last_request(), None);
        let at = Timestamp::from_second(1_800_000_000).unwrap();
        activity.touch(at);
        assert_eq!(activity.last_request(), Some(at));
        assert!(activity.idle_for() < Duration::from_secs(5));
    }

    #[test]
    fn hosts_resolve_registered_first_then_the_base_domain() {
        let routes = Routes::new(
            Mode::Cloud,
            Some(HostName::parse("example.org").unwrap()),
            8,
            Clock::system(),
        );
        let slug = |s: &str| Slug::parse(s).unwrap();
        let host = |h: &str| Target::Host(HostName::parse(h).unwrap());
        routes.insert_host(HostName::parse("acme.example.org").unwrap(), slug("other"));
        let table = routes.read();
        assert_eq!(
            routes.slug_of(&table, &host("acme.example.org")),
            Some(slug("other"))
        );
        assert_eq!(
            routes.slug_of(&table, &host("beta.example.org")),
            Some(slug("beta"))
        );
        assert_eq!(routes.slug_of(&table, &host("beta.example.com")), None);
        assert_eq!(routes.slug_of(&table, &host("example.org")), None);
    }

    #[test]
    fn on_premises_every_host_is_the_one_tenant() {
        let tenant = Slug::parse("board").unwrap();
        let routes = Routes::new(
            Mode::OnPrem {
                tenant: tenant.clone(),
            },
            None,
            8,
            Clock::system(),
        );
        let table = routes.read();
        let any = Target::Host(HostName::parse("portal.internal").unwrap());
        assert_eq!(routes.slug_of(&table, &any), Some(tenant.clone()));
        let other = Target::Slug(Slug::parse("someone").unwrap());
        assert_eq!(routes.slug_of(&table, &other), None);
    }
}
