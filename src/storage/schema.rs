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
    }
}

diesel::allow_tables_to_appear_in_same_query!(clients, signing_keys);
