//! Definitions, their fields and templates in the database: every query is scoped by
//! tenant and env, and the read model [`Intervention`] is assembled here.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use loopdesk_contracts::{
    Scope,
    interventions::{FieldType, Intervention, InterventionField, Template, TemplateKind},
};
use loopdesk_storage::Conn;

use crate::schema::{intervention_fields, intervention_templates, interventions};

/// A stored row is not what the code writes (a bug or a manual edit).
#[derive(Debug, thiserror::Error)]
#[error("corrupt row: {0}")]
pub struct CorruptRow(pub String);

/// Why a read failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The query failed.
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
    /// A row could not be read back.
    #[error(transparent)]
    Corrupt(#[from] CorruptRow),
}

/// A definition's row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = interventions, check_for_backend(diesel::pg::Pg), treat_none_as_null = true)]
pub struct DefinitionRow {
    /// Owning tenant.
    pub tenant: String,
    /// Test or live.
    pub env: String,
    /// Contract name.
    pub name: String,
    /// Display title.
    pub title: String,
    /// Queue of created tickets.
    pub queue_name: String,
    /// Flag.
    pub notify_inbox_managers: bool,
    /// Flag.
    pub fma_inbox_managers: bool,
    /// Whether epilogs are sent.
    pub remote_enabled: bool,
    /// The remote's name.
    pub remote_name: Option<String>,
    /// Epilog URL.
    pub remote_epilog_url: Option<String>,
    /// `nonce || ciphertext` of the bearer token.
    pub remote_bearer_token_enc: Option<Vec<u8>>,
    /// Epilog timeout.
    pub remote_timeout_seconds: i32,
    /// Bumped by every change.
    pub version: i64,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = intervention_fields, check_for_backend(diesel::pg::Pg))]
struct FieldRow {
    id: String,
    tenant: String,
    env: String,
    intervention: String,
    kind: String,
    name: Option<String>,
    label: Option<String>,
    width_px: Option<i32>,
    required: bool,
    ordinal: i32,
}

impl FieldRow {
    fn into_field(self) -> Result<InterventionField, CorruptRow> {
        Ok(InterventionField {
            id: self
                .id
                .parse()
                .map_err(|_| CorruptRow(format!("field id {}", self.id)))?,
            kind: FieldType::parse(&self.kind)
                .ok_or_else(|| CorruptRow(format!("field kind {}", self.kind)))?,
            name: self.name,
            label: self.label,
            width_px: self.width_px,
            required: self.required,
            ordinal: self.ordinal,
        })
    }
}

/// The owner string a bearer token is sealed for: moving a ciphertext to another
/// definition makes it undecryptable.
pub fn token_owner(scope: &Scope, name: &str) -> String {
    format!("{}/{}/{name}", scope.tenant.as_str(), scope.env.as_str())
}

/// The row of `name` in `scope`, locked for the rest of the transaction when `lock`.
pub async fn find_row(
    conn: &mut Conn,
    scope: &Scope,
    name: &str,
    lock: bool,
) -> QueryResult<Option<DefinitionRow>> {
    let query = interventions::table
        .filter(interventions::tenant.eq(scope.tenant.as_str()))
        .filter(interventions::env.eq(scope.env.as_str()))
        .filter(interventions::name.eq(name))
        .select(DefinitionRow::as_select());
    if lock {
        query.for_update().first(conn).await.optional()
    } else {
        query.first(conn).await.optional()
    }
}

/// Inserts a new definition; false when the name is taken in the scope.
pub async fn insert(conn: &mut Conn, row: &DefinitionRow) -> QueryResult<bool> {
    let inserted = diesel::insert_into(interventions::table)
        .values(row)
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    Ok(inserted == 1)
}

/// Writes `row` back with its version bumped and `updated_at` now.
pub async fn save(conn: &mut Conn, row: &mut DefinitionRow) -> QueryResult<()> {
    row.version += 1;
    row.updated_at = Utc::now();
    diesel::update(interventions::table)
        .filter(interventions::tenant.eq(&row.tenant))
        .filter(interventions::env.eq(&row.env))
        .filter(interventions::name.eq(&row.name))
        .set(&*row)
        .execute(conn)
        .await?;
    Ok(())
}

/// The definition's fields in order.
pub async fn fields(
    conn: &mut Conn,
    scope: &Scope,
    name: &str,
) -> Result<Vec<InterventionField>, StoreError> {
    let rows: Vec<FieldRow> = intervention_fields::table
        .filter(intervention_fields::tenant.eq(scope.tenant.as_str()))
        .filter(intervention_fields::env.eq(scope.env.as_str()))
        .filter(intervention_fields::intervention.eq(name))
        .order(intervention_fields::ordinal.asc())
        .select(FieldRow::as_select())
        .load(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(FieldRow::into_field)
        .collect::<Result<_, _>>()?)
}

/// Replaces the definition's fields with `fields`, numbered 0..n in the given order.
pub async fn replace_fields(
    conn: &mut Conn,
    scope: &Scope,
    name: &str,
    fields: &mut [InterventionField],
) -> QueryResult<()> {
    diesel::delete(intervention_fields::table)
        .filter(intervention_fields::tenant.eq(scope.tenant.as_str()))
        .filter(intervention_fields::env.eq(scope.env.as_str()))
        .filter(intervention_fields::intervention.eq(name))
        .execute(conn)
        .await?;
    let mut rows = Vec::with_capacity(fields.len());
    for (ordinal, field) in (0..).zip(fields.iter_mut()) {
        field.ordinal = ordinal;
        rows.push(FieldRow {
            id: field.id.to_string(),
            tenant: scope.tenant.as_str().to_owned(),
            env: scope.env.as_str().to_owned(),
            intervention: name.to_owned(),
            kind: field.kind.as_str().to_owned(),
            name: field.name.clone(),
            label: field.label.clone(),
            width_px: field.width_px,
            required: field.required,
            ordinal,
        });
    }
    if !rows.is_empty() {
        diesel::insert_into(intervention_fields::table)
            .values(&rows)
            .execute(conn)
            .await?;
    }
    Ok(())
}

/// The definition's templates, in private, public, final order.
pub async fn templates(
    conn: &mut Conn,
    scope: &Scope,
    name: &str,
) -> Result<Vec<Template>, StoreError> {
    let rows: Vec<(String, String, DateTime<Utc>)> = intervention_templates::table
        .filter(intervention_templates::tenant.eq(scope.tenant.as_str()))
        .filter(intervention_templates::env.eq(scope.env.as_str()))
        .filter(intervention_templates::intervention.eq(name))
        .select((
            intervention_templates::kind,
            intervention_templates::body,
            intervention_templates::updated_at,
        ))
        .load(conn)
        .await?;
    let mut templates = rows
        .into_iter()
        .map(|(kind, body, updated_at)| {
            let kind = TemplateKind::parse(&kind)
                .ok_or_else(|| CorruptRow(format!("template kind {kind}")))?;
            Ok(Template {
                kind,
                name: format!("{name}.{}", kind.as_str()),
                body,
                updated_at,
            })
        })
        .collect::<Result<Vec<_>, CorruptRow>>()?;
    templates.sort_by_key(|t| t.kind as u8);
    Ok(templates)
}

/// Creates or replaces one template.
pub async fn put_template(
    conn: &mut Conn,
    scope: &Scope,
    name: &str,
    kind: TemplateKind,
    body: &str,
) -> QueryResult<()> {
    let now = Utc::now();
    diesel::insert_into(intervention_templates::table)
        .values((
            intervention_templates::tenant.eq(scope.tenant.as_str()),
            intervention_templates::env.eq(scope.env.as_str()),
            intervention_templates::intervention.eq(name),
            intervention_templates::kind.eq(kind.as_str()),
            intervention_templates::body.eq(body),
            intervention_templates::updated_at.eq(now),
        ))
        .on_conflict((
            intervention_templates::tenant,
            intervention_templates::env,
            intervention_templates::intervention,
            intervention_templates::kind,
        ))
        .do_update()
        .set((
            intervention_templates::body.eq(body),
            intervention_templates::updated_at.eq(now),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// Deletes one template; false when there was none.
pub async fn delete_template(
    conn: &mut Conn,
    scope: &Scope,
    name: &str,
    kind: TemplateKind,
) -> QueryResult<bool> {
    let deleted = diesel::delete(intervention_templates::table)
        .filter(intervention_templates::tenant.eq(scope.tenant.as_str()))
        .filter(intervention_templates::env.eq(scope.env.as_str()))
        .filter(intervention_templates::intervention.eq(name))
        .filter(intervention_templates::kind.eq(kind.as_str()))
        .execute(conn)
        .await?;
    Ok(deleted == 1)
}

/// The read model of `row`: its fields and which templates exist, never the token.
pub async fn assemble(conn: &mut Conn, row: DefinitionRow) -> Result<Intervention, StoreError> {
    let scope = Scope {
        tenant: loopdesk_contracts::Tenant::parse(row.tenant.clone())
            .map_err(|_| CorruptRow(format!("tenant {}", row.tenant)))?,
        env: row
            .env
            .parse()
            .map_err(|_| CorruptRow(format!("env {}", row.env)))?,
    };
    let fields = fields(conn, &scope, &row.name).await?;
    let templates = templates(conn, &scope, &row.name)
        .await?
        .into_iter()
        .map(|t| t.kind)
        .collect();
    Ok(Intervention {
        remote_bearer_token_set: row.remote_bearer_token_enc.is_some(),
        name: row.name,
        title: row.title,
        queue_name: row.queue_name,
        notify_inbox_managers: row.notify_inbox_managers,
        fma_inbox_managers: row.fma_inbox_managers,
        remote_enabled: row.remote_enabled,
        remote_name: row.remote_name,
        remote_epilog_url: row.remote_epilog_url,
        remote_timeout_seconds: row.remote_timeout_seconds,
        fields,
        templates,
        version: row.version,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

/// `name` in `scope`, as read back; `None` when there is no such definition.
pub async fn find(
    conn: &mut Conn,
    scope: &Scope,
    name: &str,
) -> Result<Option<Intervention>, StoreError> {
    match find_row(conn, scope, name, false).await? {
        Some(row) => Ok(Some(assemble(conn, row).await?)),
        None => Ok(None),
    }
}

/// Up to `limit` definitions of `scope` named after `after`, by name.
pub async fn page(
    conn: &mut Conn,
    scope: &Scope,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<Intervention>, StoreError> {
    let mut query = interventions::table
        .filter(interventions::tenant.eq(scope.tenant.as_str()))
        .filter(interventions::env.eq(scope.env.as_str()))
        .order(interventions::name.asc())
        .limit(limit)
        .select(DefinitionRow::as_select())
        .into_boxed();
    if let Some(after) = after {
        query = query.filter(interventions::name.gt(after.to_owned()));
    }
    let rows = query.load(conn).await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        out.push(assemble(conn, row).await?);
    }
    Ok(out)
}

impl From<StoreError> for crate::apply::ApplyError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Query(q) => q.into(),
            StoreError::Corrupt(c) => crate::apply::ApplyError::Failed(c.to_string()),
        }
    }
}
