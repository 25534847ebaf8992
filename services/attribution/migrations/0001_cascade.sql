-- attribution's own copy of what it needs: links (code -> sharer), clicks, the referral cascade
-- (bindings), each conversion's outcome, and conversions held until their link is known.

CREATE TABLE referral_links (
    tenant_id     text NOT NULL,
    referral_code text NOT NULL,
    campaign_id   text NOT NULL,
    sharer_id     text NOT NULL,
    share_id      uuid NOT NULL,
    channel       text NOT NULL,
    PRIMARY KEY (tenant_id, referral_code)
);

CREATE TABLE clicks (
    tenant_id     text NOT NULL,
    click_id      uuid NOT NULL,
    referral_code text NOT NULL,
    visitor_id    text NOT NULL,
    ip_hash       text NOT NULL,
    clicked_at    timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, click_id)
);

-- A referee is bound to one referrer per tenant (customer lock); `upline` lists the referrer's
-- ancestors root first, so ring checks and upline queries need no recursion.
CREATE TABLE bindings (
    tenant_id            text NOT NULL,
    referee_id           text NOT NULL,
    referrer_id          text NOT NULL,
    root_seeder_id       text NOT NULL,
    generation           integer NOT NULL CHECK (generation >= 1),
    conversion_id        uuid NOT NULL,
    parent_conversion_id uuid,
    upline               text[] NOT NULL,
    campaign_id          text NOT NULL,
    bound_at             timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, referee_id),
    CHECK (referee_id <> referrer_id)
);
CREATE INDEX bindings_referrer ON bindings (tenant_id, referrer_id);
CREATE INDEX bindings_root ON bindings (tenant_id, root_seeder_id);

CREATE TABLE conversion_outcomes (
    tenant_id     text NOT NULL,
    conversion_id uuid NOT NULL,
    campaign_id   text NOT NULL,
    customer_id   text NOT NULL,
    outcome       text NOT NULL CHECK (outcome IN ('attributed', 'unattributed', 'rejected')),
    referrer_id   text,
    generation    integer,
    reason        text,
    decided_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, conversion_id)
);

CREATE TABLE held_conversions (
    tenant_id     text NOT NULL,
    conversion_id uuid NOT NULL,
    referral_code text,
    click_id      uuid,
    envelope      bytea NOT NULL,
    held_at       timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, conversion_id)
);
CREATE INDEX held_by_code ON held_conversions (tenant_id, referral_code) WHERE referral_code IS NOT NULL;
CREATE INDEX held_by_click ON held_conversions (tenant_id, click_id) WHERE click_id IS NOT NULL;
CREATE INDEX held_by_age ON held_conversions (held_at);
