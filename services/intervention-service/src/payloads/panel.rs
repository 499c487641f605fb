//! The ticket panel (seed §5.3): a ticket's unaccepted payloads, each with its
//! definition's title and fields in order, label tokens resolved from the data bag.

use std::collections::HashMap;

use loopdesk_contracts::{
    Scope,
    ids::TicketId,
    interventions::{InterventionField, PanelItem},
};
use loopdesk_storage::Conn;

use crate::{
    definitions::store::{self as definitions, StoreError},
    payloads::store,
    tokens,
};

/// The panel of `ticket` in `scope`; empty when it has no open intervention.
pub async fn of_ticket(
    conn: &mut Conn,
    scope: &Scope,
    ticket: &TicketId,
) -> Result<Vec<PanelItem>, StoreError> {
    let rows = store::open_of_ticket(conn, scope, ticket).await?;
    let mut definitions_seen: HashMap<String, Option<(String, Vec<InterventionField>)>> =
        HashMap::new();
    let mut items = Vec::with_capacity(rows.len());
    for row in rows {
        if !definitions_seen.contains_key(&row.intervention) {
            let found = match definitions::find_row(conn, scope, &row.intervention, false).await? {
                Some(def) => Some((
                    def.title,
                    definitions::fields(conn, scope, &row.intervention).await?,
                )),
                None => None,
            };
            definitions_seen.insert(row.intervention.clone(), found);
        }
        // The foreign key keeps the definition; a missing one is skipped, not an error.
        let Some(Some((title, fields))) = definitions_seen.get(&row.intervention) else {
            continue;
        };
        let payload = row.into_payload()?;
        let fields = fields
            .iter()
            .map(|f| InterventionField {
                label: f
                    .label
                    .as_deref()
                    .map(|l| tokens::resolve(l, &payload.data)),
                ..f.clone()
            })
            .collect();
        items.push(PanelItem {
            payload,
            title: title.clone(),
            fields,
        });
    }
    Ok(items)
}
