//! CSV exports: a real CSV writer, UTF-8 with a header row, and cells that a spreadsheet would
//! run as a formula (`=`, `+`, `-`, `@`, tab, carriage return) prefixed with `'`.

use majlis_actors::audit::AuditLine;

/// A cell made safe to open in a spreadsheet.
pub fn safe_cell(value: &str) -> std::borrow::Cow<'_, str> {
    match value.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{value}").into(),
        _ => value.into(),
    }
}

/// A CSV document: a header row, then every row, each cell made safe.
pub fn table(
    header: &[&str],
    rows: impl IntoIterator<Item = Vec<String>>,
) -> Result<Vec<u8>, String> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(header).map_err(|e| e.to_string())?;
    for row in rows {
        writer
            .write_record(row.iter().map(|cell| safe_cell(cell).into_owned()))
            .map_err(|e| e.to_string())?;
    }
    writer.into_inner().map_err(|e| e.to_string())
}

pub fn audit_csv(lines: &[AuditLine]) -> Result<Vec<u8>, String> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let header = [
        "seq",
        "at",
        "actor",
        "ip",
        "action",
        "module",
        "target",
        "diff",
        "prev_hash",
        "hash",
    ];
    writer.write_record(header).map_err(|e| e.to_string())?;
    for line in lines {
        let record = [
            line.seq.to_string(),
            line.at.to_string(),
            line.actor.to_string(),
            line.ip.clone().unwrap_or_default(),
            line.action.clone(),
            line.module.clone(),
            line.target.clone(),
            line.diff.to_string(),
            line.prev_hash.clone(),
            line.hash.clone(),
        ];
        writer
            .write_record(
                record
                    .iter()
                    .map(|cell| safe_cell(cell))
                    .map(|c| c.into_owned()),
            )
            .map_err(|e| e.to_string())?;
    }
    writer.into_inner().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_are_neutralised() {
        for bad in ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"] {
            assert!(safe_cell(bad).starts_with('\''), "{bad:?}");
        }
        assert_eq!(safe_cell("Ann"), "Ann");
    }
}
