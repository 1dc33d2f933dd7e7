//! Table definitions shared by both backends (hand-written: the two migration folders must
//! agree with these).

diesel::table! {
    audit_events (id) {
        id -> BigInt,
        at -> Timestamp,
        actor -> Text,
        action -> Text,
        subject -> Text,
        details -> Text,
    }
}

diesel::table! {
    halls (code) {
        code -> Text,
        name -> Text,
        kind -> Text,
        province -> Text,
        city -> Text,
        county -> Text,
        address -> Text,
        lat -> Double,
        lon -> Double,
        active -> Bool,
        authority_name -> Nullable<Text>,
        authority_credit_code -> Nullable<Text>,
        agreement_from -> Nullable<Date>,
        agreement_to -> Nullable<Date>,
        agreement_covers -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    users (id) {
        id -> BigInt,
        username -> Text,
        password_hash -> Text,
        role -> Text,
        hall_code -> Text,
        active -> Bool,
        failed_logins -> Integer,
        locked_until -> Nullable<Timestamp>,
        created_at -> Timestamp,
        must_change_password -> Bool,
        totp_secret -> Nullable<Text>,
        totp_enabled -> Bool,
        totp_last_step -> Nullable<BigInt>,
        last_login_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    sessions (token_hash) {
        token_hash -> Text,
        user_id -> BigInt,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        last_seen_at -> Timestamp,
        client_ip -> Text,
    }
}

diesel::table! {
    login_throttle (key) {
        key -> Text,
        username -> Nullable<Text>,
        failures -> Integer,
        window_start -> Timestamp,
        last_at -> Timestamp,
        prev_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    recovery_codes (id) {
        id -> BigInt,
        user_id -> BigInt,
        code_hash -> Text,
        created_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    agent_tokens (id) {
        id -> BigInt,
        hall_code -> Text,
        token_hash -> Text,
        created_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
        kind -> Text,
    }
}

diesel::joinable!(users -> halls (hall_code));
diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(agent_tokens -> halls (hall_code));
diesel::joinable!(recovery_codes -> users (user_id));
diesel::allow_tables_to_appear_in_same_query!(
    audit_events,
    halls,
    users,
    sessions,
    login_throttle,
    recovery_codes,
    agent_tokens,
    licences,
    licence_sequences,
    idempotency_keys
);

diesel::table! {
    licences (id) {
        id -> Text,
        type_code -> Text,
        issuer_code -> Text,
        issuing_hall -> Text,
        serial -> BigInt,
        version -> Integer,
        identifier -> Text,
        licence_no -> Text,
        holder_name -> Text,
        holder_code -> Text,
        fields -> Text,
        valid_from -> Date,
        valid_to -> Nullable<Date>,
        status -> Text,
        status_reason -> Nullable<Text>,
        status_changed_at -> Nullable<Timestamp>,
        cose -> Binary,
        signer_kid -> Text,
        issued_at -> Timestamp,
        issued_by -> Text,
        previous_id -> Nullable<Text>,
        superseded_by -> Nullable<Text>,
    }
}

diesel::table! {
    licence_sequences (type_code, issuer_code) {
        type_code -> Text,
        issuer_code -> Text,
        last_serial -> BigInt,
    }
}

diesel::table! {
    idempotency_keys (user_id, idem_key) {
        user_id -> BigInt,
        idem_key -> Text,
        request_hash -> Text,
        response_status -> Integer,
        response_body -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    print_jobs (id) {
        id -> Text,
        licence_id -> Text,
        hall -> Text,
        issuing_hall -> Text,
        state -> Text,
        copies -> Text,
        document -> Binary,
        document_sha256 -> Text,
        pickup_code_hash -> Text,
        pickup_failures -> Integer,
        pickup_locked -> Bool,
        attempts -> Integer,
        lease_token_hash -> Nullable<Text>,
        lease_expires_at -> Nullable<Timestamp>,
        created_by -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        printed_at -> Nullable<Timestamp>,
        collected_at -> Nullable<Timestamp>,
        tracking_token_hash -> Nullable<Text>,
        mobile -> Nullable<Text>,
        pickup -> Text,
        kiosk_id -> Nullable<BigInt>,
    }
}

diesel::table! {
    stock_batches (id) {
        id -> BigInt,
        hall -> Text,
        first_serial -> Text,
        prefix -> Text,
        width -> Integer,
        first_number -> BigInt,
        count -> Integer,
        created_at -> Timestamp,
        created_by -> Text,
    }
}

diesel::table! {
    sheets (serial) {
        serial -> Text,
        hall -> Text,
        batch_id -> BigInt,
        state -> Text,
        job_id -> Nullable<Text>,
        copy -> Nullable<Text>,
        reason -> Nullable<Text>,
        at -> Timestamp,
    }
}

diesel::table! {
    agent_reports (job_id, seq) {
        job_id -> Text,
        seq -> BigInt,
        request_hash -> Text,
        response_status -> Integer,
        response_body -> Text,
        at -> Timestamp,
    }
}

diesel::joinable!(print_jobs -> licences (licence_id));
diesel::allow_tables_to_appear_in_same_query!(print_jobs, licences);

diesel::table! {
    status_lists (id) {
        id -> BigInt,
        capacity -> BigInt,
        revision -> BigInt,
        changed_at -> Timestamp,
    }
}

diesel::table! {
    status_list_entries (list_id, idx) {
        list_id -> BigInt,
        idx -> BigInt,
        licence_id -> Text,
        legacy -> Bool,
    }
}

diesel::table! {
    trust_list_state (id) {
        id -> Integer,
        sequence -> BigInt,
        content_sha256 -> Text,
        changed_at -> Timestamp,
    }
}

diesel::table! {
    dept_clients (id) {
        id -> BigInt,
        name -> Text,
        token_hash -> Text,
        granted_types -> Text,
        granted_domains -> Text,
        created_at -> Timestamp,
        created_by -> Text,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    dept_access_log (id) {
        id -> BigInt,
        client_id -> BigInt,
        at -> Timestamp,
        route -> Text,
        purpose -> Text,
        holder_code -> Nullable<Text>,
        requested_types -> Text,
        licences -> Text,
        outcome -> Text,
    }
}

diesel::table! {
    shares (id) {
        id -> Text,
        code_hash -> Text,
        holder_code -> Text,
        licence_ids -> Text,
        created_at -> Timestamp,
        created_by -> Text,
        hall -> Text,
        expires_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
        revoked_by -> Nullable<Text>,
    }
}

diesel::table! {
    share_lookups (id) {
        id -> BigInt,
        share_id -> Text,
        at -> Timestamp,
        client_ip -> Text,
        channel -> Text,
        outcome -> Text,
    }
}

diesel::joinable!(dept_access_log -> dept_clients (client_id));
diesel::joinable!(share_lookups -> shares (share_id));
diesel::allow_tables_to_appear_in_same_query!(dept_clients, dept_access_log);
diesel::allow_tables_to_appear_in_same_query!(shares, share_lookups);

diesel::table! {
    notifications (id) {
        id -> Text,
        job_id -> Text,
        kind -> Text,
        mobile -> Text,
        body -> Text,
        state -> Text,
        attempts -> Integer,
        last_error -> Nullable<Text>,
        next_attempt_at -> Timestamp,
        lease_until -> Nullable<Timestamp>,
        created_at -> Timestamp,
        sent_at -> Nullable<Timestamp>,
    }
}

diesel::joinable!(notifications -> print_jobs (job_id));
diesel::allow_tables_to_appear_in_same_query!(notifications, print_jobs);
