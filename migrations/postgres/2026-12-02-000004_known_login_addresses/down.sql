DROP TABLE known_login_addresses;
