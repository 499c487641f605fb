//! Editing a definition's field list in memory: add, change, remove, reorder or replace,
//! then the whole list is checked before it is written.

use loopdesk_contracts::{
    FieldError,
    ids::FieldId,
    interventions::{FieldPatch, InterventionField, NewField},
};

use crate::{apply::ApplyError, definitions::validate};

/// One change to a field list.
#[derive(Debug, Clone)]
pub enum FieldEdit {
    /// The whole list, in order.
    Replace(Vec<NewField>),
    /// One more field, at the end or at an ordinal.
    Add {
        /// The field.
        field: NewField,
        /// Where; the end when `None`.
        ordinal: Option<i32>,
    },
    /// Change one field.
    Update {
        /// Which.
        id: FieldId,
        /// What.
        patch: FieldPatch,
    },
    /// Remove one field.
    Remove(FieldId),
    /// The same fields in this order.
    Reorder(Vec<FieldId>),
}

fn stored(field: NewField) -> InterventionField {
    InterventionField {
        id: field.id,
        kind: field.spec.kind,
        name: field.spec.name,
        label: field.spec.label,
        width_px: field.spec.width_px,
        required: field.spec.required,
        ordinal: 0,
    }
}

fn position(list: &[InterventionField], id: &FieldId) -> Result<usize, ApplyError> {
    list.iter()
        .position(|f| f.id == *id)
        .ok_or_else(|| crate::apply::unknown_field(&id.to_string()))
}

/// Applies `edit` to `list` and checks the result; on error `list` is not to be written.
pub fn edit(list: &mut Vec<InterventionField>, edit: FieldEdit) -> Result<(), ApplyError> {
    let listed = matches!(edit, FieldEdit::Replace(_));
    match edit {
        FieldEdit::Replace(fields) => *list = fields.into_iter().map(stored).collect(),
        FieldEdit::Add { field, ordinal } => {
            let at = match ordinal {
                None => list.len(),
                Some(o) => usize::try_from(o)
                    .ok()
                    .filter(|o| *o <= list.len())
                    .ok_or_else(|| {
                        ApplyError::invalid(vec![FieldError::new(
                            "ordinal",
                            format!("must be between 0 and {}", list.len()),
                        )])
                    })?,
            };
            list.insert(at, stored(field));
        }
        FieldEdit::Update { id, patch } => {
            let i = position(list, &id)?;
            let field = &mut list[i];
            if let Some(kind) = patch.kind {
                field.kind = kind;
            }
            if let Some(name) = patch.name {
                field.name = name;
            }
            if let Some(label) = patch.label {
                field.label = label;
            }
            if let Some(width) = patch.width_px {
                field.width_px = width;
            }
            if let Some(required) = patch.required {
                field.required = required;
            }
        }
        FieldEdit::Remove(id) => {
            let i = position(list, &id)?;
            list.remove(i);
        }
        FieldEdit::Reorder(ids) => {
            let mut sorted_new = ids.clone();
            sorted_new.sort();
            sorted_new.dedup();
            let mut sorted_old: Vec<FieldId> = list.iter().map(|f| f.id).collect();
            sorted_old.sort();
            if sorted_new.len() != ids.len() || sorted_new != sorted_old {
                return Err(ApplyError::invalid(vec![FieldError::new(
                    "field_ids",
                    "must list every field id of the intervention exactly once",
                )]));
            }
            let mut reordered = Vec::with_capacity(list.len());
            for id in &ids {
                let i = position(list, id)?;
                reordered.push(list[i].clone());
            }
            *list = reordered;
        }
    }
    let errors = validate::fields(list, listed);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApplyError::invalid(errors))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use loopdesk_contracts::interventions::{FieldSpec, FieldType};

    use super::*;

    fn new(kind: FieldType, name: Option<&str>) -> NewField {
        NewField {
            id: FieldId::generate(),
            spec: FieldSpec {
                kind,
                name: name.map(str::to_owned),
                label: None,
                width_px: None,
                required: false,
            },
        }
    }

    #[test]
    fn add_update_remove_and_reorder() {
        let mut list = Vec::new();
        edit(
            &mut list,
            FieldEdit::Replace(vec![
                new(FieldType::Text, Some("a")),
                new(FieldType::Hr, None),
            ]),
        )
        .unwrap();
        let added = new(FieldType::Checkbox, Some("ok"));
        let added_id = added.id;
        edit(
            &mut list,
            FieldEdit::Add {
                field: added,
                ordinal: Some(0),
            },
        )
        .unwrap();
        assert_eq!(list[0].id, added_id);
        assert!(
            edit(
                &mut list.clone(),
                FieldEdit::Add {
                    field: new(FieldType::Hr, None),
                    ordinal: Some(9)
                }
            )
            .is_err()
        );
        let patch = FieldPatch {
            name: Some(None),
            ..FieldPatch::default()
        };
        assert!(
            edit(
                &mut list.clone(),
                FieldEdit::Update {
                    id: added_id,
                    patch
                }
            )
            .is_err(),
            "a checkbox needs a name"
        );
        let mut ids: Vec<FieldId> = list.iter().map(|f| f.id).collect();
        ids.reverse();
        edit(&mut list, FieldEdit::Reorder(ids.clone())).unwrap();
        assert_eq!(list.iter().map(|f| f.id).collect::<Vec<_>>(), ids);
        assert!(edit(&mut list.clone(), FieldEdit::Reorder(ids[..2].to_vec())).is_err());
        let dup = vec![ids[0], ids[0], ids[1]];
        assert!(edit(&mut list.clone(), FieldEdit::Reorder(dup)).is_err());
        edit(&mut list, FieldEdit::Remove(added_id)).unwrap();
        assert_eq!(list.len(), 2);
        assert!(edit(&mut list, FieldEdit::Remove(added_id)).is_err());
    }
}
