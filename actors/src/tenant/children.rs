//! Helpers for the tenant's children: starting its audit child without ever overlapping a previous
//! one, and which sign-in bucket a request draws from.

use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef, SpawnErr};

use super::commands::Request;
use super::messages::TenantMsg;
use crate::audit::{AuditActor, AuditArgs, AuditMsg};
use crate::domain::Slug;
use crate::runtime::Shared;
use crate::store::TenantPaths;

pub(super) async fn spawn_audit(
    myself: &ActorRef<TenantMsg>,
    shared: &Shared,
    slug: &Slug,
    paths: &TenantPaths,
) -> Result<ActorRef<AuditMsg>, ActorProcessingErr> {
    let name = shared.actor_name("audit", slug);
    // A previous audit child of this tenant may still be on its way out: its name is the guard
    // that two writers of one audit trail never overlap.
    for _ in 0..200 {
        let args = AuditArgs {
            path: paths.audit(),
            tenant: myself.clone(),
        };
        match Actor::spawn_linked(Some(name.clone()), AuditActor, args, myself.get_cell()).await {
            Ok((actor, _)) => return Ok(actor),
            Err(SpawnErr::ActorAlreadyRegistered(_)) => {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            Err(err) => return Err(Box::new(err)),
        }
    }
    Err(format!("audit child {name} did not stop in time").into())
}

/// The identity whose sign-in bucket a request draws from (`Some(None)`: only the address's).
pub(super) fn sign_in_identity(request: &Request) -> Option<Option<String>> {
    match request {
        Request::OtpRequest { identity, .. } => Some(Some(identity.key())),
        Request::MagicRequest { email } => Some(Some(format!("email:{email}"))),
        Request::OtpVerify { .. } | Request::MagicVerify { .. } => Some(None),
        _ => None,
    }
}
