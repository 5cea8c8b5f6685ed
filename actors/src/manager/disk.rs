//! The manager's only read of the data root: the tenant registry at start-up (its only write
//! there is the health probe, `health.rs`). Tenants' own files are written by their actors alone.

use crate::domain::Slug;
use crate::store::{TenantPaths, load_snapshot, tenants_dir};
use crate::tenant::TenantMeta;

/// A tenant's `tenant.json`, or why it could not be read.
type ScannedMeta = Result<TenantMeta, String>;

/// Reads every tenant's `tenant.json` under the data root. A tenant whose file cannot be read
/// is listed with the reason, so it fails alone.
pub(super) fn scan_tenants(
    data_root: &std::path::Path,
) -> Result<Vec<(Slug, ScannedMeta)>, std::io::Error> {
    let dir = tenants_dir(data_root);
    let listing = match std::fs::read_dir(&dir) {
        Ok(listing) => listing,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut found = Vec::new();
    for item in listing {
        let item = item?;
        let name = item.file_name();
        let Some(slug) = name.to_str().and_then(|n| Slug::parse(n).ok()) else {
            tracing::warn!(entry = ?name, "ignoring a directory entry that is not a tenant slug");
            continue;
        };
        let paths = TenantPaths::new(data_root, &slug);
        let meta = match load_snapshot::<TenantMeta>(&paths.tenant()) {
            Ok(Some((_, meta))) if meta.slug == slug => Ok(meta),
            Ok(Some(_)) => Err("tenant.json names another slug".to_owned()),
            Ok(None) => Err("tenant.json is missing".to_owned()),
            Err(err) => Err(err.to_string()),
        };
        found.push((slug, meta));
    }
    Ok(found)
}
