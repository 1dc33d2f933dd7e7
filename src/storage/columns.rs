//! Enumerated text columns as the domain's enums: a job's `state`, a licence's `status`, a
//! user's `role`, a hall's `kind`, a sheet's `state` and `copy`. The database keeps the same
//! text as always (`queued`, `valid`, `hall_operator`, ...); rows carry the enum, so a state is
//! parsed once, where the row leaves the database, and nothing outside `storage/` compares
//! state strings. A stored value no enum knows (a hand edit, a newer version's state) is a
//! deserialization error naming the column and the value, never a panic or a silent default.
//!
//! The domain stays free of diesel: the impls are derived here on proxy types
//! (`#[diesel(foreign_derive)]`) and written generically over the backend, so they serve
//! SQLite, PostgreSQL and the multi-connection enum alike. See docs/architecture.md
//! ("Storage").

use crate::domain::copy::CopyKind;
use crate::domain::hall::HallKind;
use crate::domain::job::{AgentKind, JobState, Pickup};
use crate::domain::licence::LicenceStatus;
use crate::domain::role::Role;
use crate::domain::stock::SheetState;
use crate::domain::tracking::{DeliveryState, NotificationKind};
use diesel::backend::Backend;
use diesel::deserialize::{self, FromSql};
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::Text;

/// `ToSql`/`FromSql` over `Text` for a domain enum with `as_str` and `parse`, plus the
/// `AsExpression`/`Queryable` glue (derived on a proxy so the domain type needs no derive).
macro_rules! text_enum {
    ($ty:ty, $proxy:ident, $what:literal) => {
        #[derive(diesel::AsExpression, diesel::FromSqlRow)]
        #[diesel(foreign_derive)]
        #[diesel(sql_type = Text)]
        #[allow(dead_code)]
        struct $proxy($ty);

        impl<DB> ToSql<Text, DB> for $ty
        where
            DB: Backend,
            str: ToSql<Text, DB>,
        {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, DB>) -> serialize::Result {
                <str as ToSql<Text, DB>>::to_sql(self.as_str(), out)
            }
        }

        impl<DB> FromSql<Text, DB> for $ty
        where
            DB: Backend,
            String: FromSql<Text, DB>,
        {
            fn from_sql(bytes: DB::RawValue<'_>) -> deserialize::Result<Self> {
                let text = <String as FromSql<Text, DB>>::from_sql(bytes)?;
                <$ty>::parse(&text).ok_or_else(|| unknown($what, &text))
            }
        }
    };
}

fn unknown(what: &str, text: &str) -> Box<dyn std::error::Error + Send + Sync> {
    format!("the database holds an unknown {what} {text:?}").into()
}

text_enum!(JobState, JobStateColumn, "print job state");
text_enum!(LicenceStatus, LicenceStatusColumn, "licence status");
text_enum!(Role, RoleColumn, "role");
text_enum!(HallKind, HallKindColumn, "hall kind");
text_enum!(CopyKind, CopyKindColumn, "copy kind");
text_enum!(SheetState, SheetStateColumn, "sheet state");
text_enum!(
    NotificationKind,
    NotificationKindColumn,
    "notification kind"
);
text_enum!(DeliveryState, DeliveryStateColumn, "delivery state");
text_enum!(Pickup, PickupColumn, "print job pickup");
text_enum!(AgentKind, AgentKindColumn, "agent token kind");

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::DbConnection;
    use diesel::prelude::*;
    use diesel::sql_types::Text;

    #[derive(QueryableByName)]
    struct State {
        #[diesel(sql_type = Text)]
        state: JobState,
    }

    fn sqlite() -> DbConnection {
        match diesel::SqliteConnection::establish(":memory:") {
            Ok(c) => DbConnection::Sqlite(c),
            Err(e) => panic!("in-memory SQLite: {e}"),
        }
    }

    #[test]
    fn a_known_value_reads_back_as_the_enum_and_writes_the_same_text() {
        let mut conn = sqlite();
        for s in JobState::ALL {
            let row: State = diesel::sql_query("SELECT $1 AS state")
                .bind::<Text, _>(s)
                .get_result(&mut conn)
                .unwrap();
            assert_eq!(row.state, s);
            let text: String = diesel::select(s.into_sql::<Text>())
                .get_result(&mut conn)
                .unwrap();
            assert_eq!(text, s.as_str());
        }
    }

    #[test]
    fn an_unknown_stored_value_is_an_error_naming_it_not_a_panic() {
        let mut conn = sqlite();
        let err = diesel::sql_query("SELECT 'lost_in_the_post' AS state")
            .get_result::<State>(&mut conn)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("unknown print job state"), "{err}");
        assert!(err.contains("lost_in_the_post"), "{err}");
    }
}
