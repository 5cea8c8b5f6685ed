//! The catalog shipped with the product (`data/catalog/`): sectors, modules, plans and the default
//! role matrix. It is compiled into the binary, so a server never depends on the working directory.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, LazyLock};

use serde::{Deserialize, Serialize};

use crate::domain::ParseError;

const SECTORS_JSON: &str = include_str!("../../data/catalog/sectors.json");
const MODULES_JSON: &str = include_str!("../../data/catalog/modules.json");
const PLANS_JSON: &str = include_str!("../../data/catalog/plans.json");
const ROLES_JSON: &str = include_str!("../../data/catalog/roles.json");

/// A subscription plan; the order is the order of what they unlock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Plan {
    Free,
    Pro,
    Enterprise,
}

impl Plan {
    pub fn as_str(self) -> &'static str {
        match self {
            Plan::Free => "free",
            Plan::Pro => "pro",
            Plan::Enterprise => "enterprise",
        }
    }
}

/// One of the four things a role may do to a module.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Read,
    Create,
    Update,
    Delete,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SubSector {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Sector {
    pub id: String,
    pub name: String,
    pub sub_sectors: Vec<SubSector>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Module {
    pub id: String,
    pub name: String,
    pub description: String,
    pub requires_plan: Plan,
    /// Sector ids this module is visible in; `*` means every sector.
    pub sectors: Vec<String>,
}

impl Module {
    pub fn visible_in(&self, sector: &str) -> bool {
        self.sectors.iter().any(|s| s == "*" || s == sector)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlanInfo {
    pub id: Plan,
    pub name: String,
    pub rank: u8,
    pub max_members: Option<u32>,
    pub storage_mb: Option<u64>,
}

/// role → module → allowed actions.
pub type RoleMatrix = BTreeMap<String, BTreeMap<String, BTreeSet<Action>>>;

#[derive(Debug)]
pub struct Catalog {
    pub sectors: Vec<Sector>,
    pub modules: Vec<Module>,
    pub plans: Vec<PlanInfo>,
    /// Shared by every tenant that keeps the default matrix (most do): one copy in memory.
    pub default_roles: Arc<RoleMatrix>,
}

#[derive(Deserialize)]
struct SectorsFile {
    sectors: Vec<Sector>,
}
#[derive(Deserialize)]
struct ModulesFile {
    modules: Vec<Module>,
}
#[derive(Deserialize)]
struct PlansFile {
    plans: Vec<PlanInfo>,
}
#[derive(Deserialize)]
struct RolesFile {
    roles: RoleMatrix,
}

static CATALOG: LazyLock<Catalog> = LazyLock::new(|| {
    // The files are compiled in and checked by the tests below, so a parse failure here is a
    // build defect, not a runtime condition.
    #[allow(clippy::expect_used)]
    fn parse<T: serde::de::DeserializeOwned>(name: &str, raw: &str) -> T {
        serde_json::from_str(raw).expect(name)
    }
    Catalog {
        sectors: parse::<SectorsFile>("sectors.json", SECTORS_JSON).sectors,
        modules: parse::<ModulesFile>("modules.json", MODULES_JSON).modules,
        plans: parse::<PlansFile>("plans.json", PLANS_JSON).plans,
        default_roles: Arc::new(parse::<RolesFile>("roles.json", ROLES_JSON).roles),
    }
});

impl Catalog {
    pub fn get() -> &'static Catalog {
        &CATALOG
    }

    /// A tenant's role matrix, sharing the default's memory when it is the default.
    pub fn share_roles(&self, roles: RoleMatrix) -> Arc<RoleMatrix> {
        if roles == *self.default_roles {
            Arc::clone(&self.default_roles)
        } else {
            Arc::new(roles)
        }
    }

    pub fn module(&self, id: &str) -> Option<&Module> {
        self.modules.iter().find(|m| m.id == id)
    }

    pub fn sector(&self, id: &str) -> Option<&Sector> {
        self.sectors.iter().find(|s| s.id == id)
    }

    /// Checks a sector and optional sub-sector pair against the catalog.
    pub fn check_sector(&self, sector: &str, sub_sector: Option<&str>) -> Result<(), ParseError> {
        let found = self
            .sector(sector)
            .ok_or_else(|| ParseError::new("sector", format!("unknown sector '{sector}'")))?;
        match sub_sector {
            Some(sub) if !found.sub_sectors.iter().any(|s| s.id == sub) => Err(ParseError::new(
                "sub_sector",
                format!("unknown sub-sector '{sub}' for sector '{sector}'"),
            )),
            _ => Ok(()),
        }
    }

    /// The modules a new tenant starts with: every module its plan allows in its sector.
    pub fn default_features(&self, plan: Plan, sector: &str) -> BTreeMap<String, bool> {
        self.modules
            .iter()
            .filter(|m| m.visible_in(sector))
            .map(|m| (m.id.clone(), m.requires_plan <= plan))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_catalog_is_consistent() {
        let catalog = Catalog::get();
        assert!(!catalog.sectors.is_empty());
        assert_eq!(catalog.plans.len(), 3);
        for role in ["admin", "secretary", "member", "observer"] {
            let grants = catalog.default_roles.get(role).expect(role);
            for module in grants.keys() {
                assert!(
                    catalog.module(module).is_some(),
                    "{role} names unknown {module}"
                );
            }
        }
        for module in &catalog.modules {
            for sector in &module.sectors {
                assert!(
                    sector == "*" || catalog.sector(sector).is_some(),
                    "{sector}"
                );
            }
        }
        assert!(
            !catalog.default_roles.contains_key("superadmin"),
            "superadmin only exists in the operator tenant"
        );
    }

    #[test]
    fn sector_checks_name_the_field() {
        let catalog = Catalog::get();
        assert!(catalog.check_sector("sports", Some("federation")).is_ok());
        assert_eq!(
            catalog
                .check_sector("sports", Some("bank"))
                .unwrap_err()
                .field,
            "sub_sector"
        );
        assert_eq!(
            catalog.check_sector("mining", None).unwrap_err().field,
            "sector"
        );
    }

    #[test]
    fn free_plan_starts_without_pro_modules() {
        let features = Catalog::get().default_features(Plan::Free, "sports");
        assert_eq!(features.get("meetings"), Some(&true));
        assert_eq!(features.get("api_keys"), Some(&false));
        assert_eq!(features.get("holdings"), None, "not visible in sports");
    }
}
