//! SLA policies: one per tenant, env and priority, set through `ticket.set_sla_policy`.

use std::collections::{HashMap, HashSet};

use chrono::Utc;
use diesel::{prelude::*, upsert::excluded};
use diesel_async::RunQueryDsl;
use loopdesk_contracts::{
    Env, Scope, Tenant, commands::SetSlaPolicy, responses::SlaPolicy, tickets::Priority,
};
use loopdesk_messaging::Envelope;
use loopdesk_storage::{Conn, Pool, claim};

use crate::{apply::ApplyError, schema::sla_policies, tickets::create::CONSUMER};

#[derive(Queryable, Selectable)]
#[diesel(table_name = sla_policies, check_for_backend(diesel::pg::Pg))]
struct PolicyRow {
    tenant: String,
    env: String,
    priority: String,
    first_response_minutes: i32,
    resolution_minutes: i32,
}

impl PolicyRow {
    fn scope(&self) -> Option<Scope> {
        Some(Scope {
            tenant: Tenant::parse(self.tenant.clone()).ok()?,
            env: self.env.parse::<Env>().ok()?,
        })
    }

    fn into_policy(self) -> Option<SlaPolicy> {
        Some(SlaPolicy {
            priority: Priority::parse(&self.priority)?,
            first_response_minutes: self.first_response_minutes,
            resolution_minutes: self.resolution_minutes,
        })
    }
}

/// The scope's policy for `priority`, if it has one.
pub async fn find(
    conn: &mut Conn,
    scope: &Scope,
    priority: Priority,
) -> QueryResult<Option<SlaPolicy>> {
    let row: Option<PolicyRow> = sla_policies::table
        .find((scope.tenant.as_str(), scope.env.as_str(), priority.as_str()))
        .select(PolicyRow::as_select())
        .first(conn)
        .await
        .optional()?;
    Ok(row.and_then(PolicyRow::into_policy))
}

/// The policy of each `(scope, priority)` in `wanted` that has one, in one query.
pub async fn find_all(
    conn: &mut Conn,
    wanted: &HashSet<(Scope, Priority)>,
) -> QueryResult<HashMap<(Scope, Priority), SlaPolicy>> {
    let tenants: HashSet<&str> = wanted.iter().map(|(s, _)| s.tenant.as_str()).collect();
    let envs: HashSet<&str> = wanted.iter().map(|(s, _)| s.env.as_str()).collect();
    let priorities: HashSet<&str> = wanted.iter().map(|(_, p)| p.as_str()).collect();
    let rows: Vec<PolicyRow> = sla_policies::table
        .filter(sla_policies::tenant.eq_any(tenants))
        .filter(sla_policies::env.eq_any(envs))
        .filter(sla_policies::priority.eq_any(priorities))
        .select(PolicyRow::as_select())
        .load(conn)
        .await?;
    // The filter matches every combination of the three lists: keep the wanted pairs.
    Ok(rows
        .into_iter()
        .filter_map(|row| {
            let scope = row.scope()?;
            let policy = row.into_policy()?;
            let key = (scope, policy.priority);
            wanted.contains(&key).then_some((key, policy))
        })
        .collect())
}

/// Every policy of the scope, by priority.
pub async fn list(conn: &mut Conn, scope: &Scope) -> QueryResult<Vec<SlaPolicy>> {
    let rows: Vec<PolicyRow> = sla_policies::table
        .filter(sla_policies::tenant.eq(scope.tenant.as_str()))
        .filter(sla_policies::env.eq(scope.env.as_str()))
        .select(PolicyRow::as_select())
        .load(conn)
        .await?;
    let mut policies: Vec<SlaPolicy> = rows
        .into_iter()
        .filter_map(PolicyRow::into_policy)
        .collect();
    policies.sort_by_key(|p| p.priority as u8);
    Ok(policies)
}

/// Applies `ticket.set_sla_policy`: stores the policy for tickets created or
/// re-prioritised from now on. Tickets already open keep their targets.
pub async fn apply(
    pool: &Pool,
    scope: &Scope,
    request: &Envelope,
    command: SetSlaPolicy,
) -> Result<SlaPolicy, ApplyError> {
    loopdesk_storage::transaction(pool, async |conn| {
        let p = &command.policy;
        if claim(conn, CONSUMER, &request.message_id).await? {
            diesel::insert_into(sla_policies::table)
                .values((
                    sla_policies::tenant.eq(scope.tenant.as_str()),
                    sla_policies::env.eq(scope.env.as_str()),
                    sla_policies::priority.eq(p.priority.as_str()),
                    sla_policies::first_response_minutes.eq(p.first_response_minutes),
                    sla_policies::resolution_minutes.eq(p.resolution_minutes),
                    sla_policies::updated_at.eq(Utc::now()),
                ))
                .on_conflict((
                    sla_policies::tenant,
                    sla_policies::env,
                    sla_policies::priority,
                ))
                .do_update()
                .set((
                    sla_policies::first_response_minutes
                        .eq(excluded(sla_policies::first_response_minutes)),
                    sla_policies::resolution_minutes.eq(excluded(sla_policies::resolution_minutes)),
                    sla_policies::updated_at.eq(excluded(sla_policies::updated_at)),
                ))
                .execute(conn)
                .await?;
        }
        Ok(find(conn, scope, p.priority)
            .await?
            .unwrap_or_else(|| p.clone()))
    })
    .await
}
