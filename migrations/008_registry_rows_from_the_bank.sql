-- 008: the service's role registers prospects, never registry clients.
--
-- The runtime role (migrate --grant-to) holds INSERT on clients to register
-- prospects (status PROSPECT), and INSERT cannot be narrowed by value: that
-- role could otherwise insert an ACTIVE client of its own making, which a
-- later /user/lookup or approval would take for one of the bank's. The
-- registry's own rows come from the bank, through its sync or seed, run as
-- the owner. clients_insert_guard refuses a row of any other status than
-- PROSPECT from a role that may not UPDATE clients (the owner may; so may a
-- role the bank grants UPDATE, which could change a status anyway). It
-- fires only for such rows (the trigger's WHEN), and the check reads the
-- privilege from the catalogue cache, with no query: a sync of a million
-- clients pays a function call per row.

CREATE FUNCTION clients_insert_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT has_table_privilege(TG_RELID, 'UPDATE') THEN
        RAISE EXCEPTION 'clients: this role registers prospects only; a client of status % comes from the bank''s registry', NEW.status
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'Insert registry clients as the table owner (seed, the registry sync).';
    END IF;
    RETURN NEW;
END;
$$;

COMMENT ON FUNCTION clients_insert_guard() IS
    'Trigger function of clients: refuses a row of a status other than PROSPECT from a role without UPDATE on '
    'clients (SQLSTATE 42501), so the service''s role can register prospects but not forge registry clients.';

CREATE TRIGGER clients_registry_rows_from_the_bank BEFORE INSERT ON clients
    FOR EACH ROW WHEN (NEW.status <> 'PROSPECT') EXECUTE FUNCTION clients_insert_guard();
