//! The agent journal's tables (`migrations/agent/`); not the server's schema.

diesel::table! {
    jobs (id) {
        id -> Text,
        licence_id -> Text,
        type_code -> Text,
        copies -> Text,
        qr_text -> Text,
        lease_token -> Text,
        lease_expires_at -> Text,
        document_sha256 -> Text,
        state -> Text,
        outcome -> Nullable<Text>,
        report_seq -> Nullable<BigInt>,
        report_body -> Nullable<Text>,
        report_attempts -> Integer,
        last_error -> Nullable<Text>,
        claimed_at -> Text,
        updated_at -> Text,
        licence_identifier -> Text,
    }
}

diesel::table! {
    sheets (serial) {
        serial -> Text,
        position -> BigInt,
        state -> Text,
        job_id -> Nullable<Text>,
        page -> Nullable<Integer>,
        note -> Nullable<Text>,
    }
}

diesel::table! {
    counters (name) {
        name -> Text,
        value -> BigInt,
    }
}

diesel::table! {
    events (id) {
        id -> Integer,
        at -> Text,
        job_id -> Nullable<Text>,
        step -> Text,
        detail -> Text,
    }
}

diesel::allow_tables_to_appear_in_same_query!(jobs, sheets, counters, events);
