//! Diesel table definitions, written with portable types (Text, BigInt, Binary) so one
//! schema serves SQLite and PostgreSQL.

diesel::table! {
    clients (id) {
        id -> Text,
        name -> Text,
        secret_hash -> Nullable<Binary>,
        redirect_uris -> Text,
        grant_types -> Text,
        scopes -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
        introspect -> Bool,
        post_logout_redirect_uris -> Text,
        registration_token_hash -> Nullable<Binary>,
        token_endpoint_auth_method -> Nullable<Text>,
    }
}

diesel::table! {
    signing_keys (kid) {
        kid -> Text,
        algorithm -> Text,
        private_key -> Binary,
        public_key -> Binary,
        created_at -> BigInt,
        retired_at -> Nullable<BigInt>,
        publish_until -> Nullable<BigInt>,
        wrapped_by -> Nullable<Text>,
        signs_from -> Nullable<BigInt>,
    }
}

diesel::table! {
    roles (name) {
        name -> Text,
        scopes -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    users (id) {
        id -> Text,
        username -> Text,
        password_hash -> Text,
        created_at -> BigInt,
        username_key -> Nullable<Text>,
        email -> Nullable<Text>,
        name -> Nullable<Text>,
        disabled_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    user_roles (user_id, role) {
        user_id -> Text,
        role -> Text,
    }
}

diesel::table! {
    refresh_families (id) {
        id -> Text,
        user_id -> Text,
        client_id -> Text,
        created_at -> BigInt,
        absolute_expires_at -> BigInt,
        revoked_at -> Nullable<BigInt>,
        openid -> Nullable<Text>,
    }
}

diesel::table! {
    refresh_tokens (token_hash) {
        token_hash -> Binary,
        family_id -> Text,
        user_id -> Text,
        client_id -> Text,
        scope -> Text,
        issued_at -> BigInt,
        expires_at -> BigInt,
        used_at -> Nullable<BigInt>,
        replaced_by -> Nullable<Binary>,
    }
}

diesel::table! {
    revoked_access_tokens (jti) {
        jti -> Text,
        expires_at -> BigInt,
    }
}

// Codes of the version before sealed codes; no longer written (purged until a later
// migration drops it).
diesel::table! {
    authorization_codes (code_hash) {
        code_hash -> Binary,
        client_id -> Text,
        user_id -> Text,
        redirect_uri -> Text,
        scope -> Text,
        pkce -> Nullable<Text>,
        created_at -> BigInt,
        expires_at -> BigInt,
        used_at -> Nullable<BigInt>,
        family_id -> Nullable<Text>,
        access_jti -> Nullable<Text>,
        access_expires_at -> Nullable<BigInt>,
        request_id -> Nullable<Text>,
        roles -> Nullable<Text>,
        openid -> Nullable<Text>,
    }
}

diesel::table! {
    consents (user_id, client_id) {
        user_id -> Text,
        client_id -> Text,
        scope -> Text,
        granted_at -> BigInt,
        grant_id -> Text,
    }
}

diesel::table! {
    spent_codes (request_id) {
        request_id -> Text,
        client_id -> Text,
        user_id -> Text,
        spent_at -> BigInt,
        expires_at -> BigInt,
        family_id -> Nullable<Text>,
        access_jti -> Nullable<Text>,
        access_expires_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    login_sessions (id) {
        id -> Text,
        user_id -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
        amr -> Text,
    }
}

diesel::table! {
    sealing_keys (id) {
        id -> Text,
        secret -> Binary,
        created_at -> BigInt,
        wrapped_by -> Nullable<Text>,
    }
}

diesel::table! {
    security_events (id) {
        id -> BigInt,
        at -> BigInt,
        kind -> Text,
        outcome -> Text,
        actor -> Nullable<Text>,
        client_id -> Nullable<Text>,
        ip -> Nullable<Text>,
        detail -> Nullable<Text>,
    }
}

diesel::table! {
    throttles (key) {
        key -> Text,
        failures -> BigInt,
        last_failure_at -> BigInt,
        blocked_until -> Nullable<BigInt>,
    }
}

diesel::table! {
    totp_credentials (user_id) {
        user_id -> Text,
        secret_sealed -> Text,
        created_at -> BigInt,
        confirmed_at -> Nullable<BigInt>,
        last_step -> Nullable<BigInt>,
    }
}

diesel::table! {
    recovery_codes (code_hash) {
        code_hash -> Binary,
        user_id -> Text,
        created_at -> BigInt,
        used_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    known_login_addresses (user_id, ip) {
        user_id -> Text,
        ip -> Text,
        last_login_at -> BigInt,
    }
}

diesel::joinable!(user_roles -> users (user_id));
diesel::joinable!(user_roles -> roles (role));
diesel::joinable!(refresh_tokens -> refresh_families (family_id));
diesel::joinable!(login_sessions -> users (user_id));
diesel::joinable!(consents -> clients (client_id));

diesel::allow_tables_to_appear_in_same_query!(
    clients,
    signing_keys,
    roles,
    users,
    user_roles,
    refresh_families,
    refresh_tokens,
    revoked_access_tokens,
    authorization_codes,
    consents,
    spent_codes,
    login_sessions,
    sealing_keys,
    security_events,
    throttles,
    totp_credentials,
    recovery_codes,
    known_login_addresses,
);
