-- 009: each consent record says whether the text it names is the one last
-- served to its process (the text the user was shown) or, no serving being
-- found, the current text in the default language (DESIGN.md: "the one last
-- served to that process, else the current one"). A serving is a hint: a
-- replica that crashed before writing it, or one that had not yet written
-- it when another replica stored the consent, leaves the record naming the
-- current text, which a newer version published meanwhile makes a text the
-- user never saw. A compliance officer can now tell those records apart.
--
-- Rows recorded before this migration keep NULL (unknown): the ledger is
-- append-only, and guessing would put a claim in evidence that nobody made.
-- A pod of the previous release still running during a rolling update also
-- writes NULL. Adding a nullable column without a default changes only the
-- catalogue: no row is rewritten.

ALTER TABLE consent_ledger ADD COLUMN text_served boolean;

COMMENT ON COLUMN consent_ledger.text_served IS
    'true: language, text_version and text_sha256 are those of the text last served to the process (shown to the '
    'user); false: no serving was found, so they name the text current in the default language when the consent '
    'was stored; NULL: recorded before migration 009 (unknown).';
