-- Viral analytics read models, fed by the attribution-analytics consumer group.
--
-- The facts a figure needs arrive on four topics in no guaranteed order (a click before its
-- share, a sharer's own attribution after their shares), so the tables keep one row per link,
-- click, conversion and customer, merged with order-independent updates (sums, least, or), and
-- the figures are aggregated per campaign and dimension when asked, from an index range.

-- One row per referral link (= per share; share-ingest issues one code per share). A click seen
-- before its share creates the row with `shared = 0`; the share fills in its dimensions.
CREATE TABLE analytics_links (
    tenant_id       text NOT NULL,
    referral_code   text NOT NULL,
    campaign_id     text NOT NULL,
    sharer_id       text NOT NULL,
    shared          smallint NOT NULL DEFAULT 0 CHECK (shared IN (0, 1)),
    shared_on       date,
    channel         text,
    message_variant text,
    sharer_segment  text,
    sentiment       smallint,
    clicks          integer NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, referral_code)
);
CREATE INDEX analytics_links_campaign ON analytics_links (tenant_id, campaign_id);
CREATE INDEX analytics_links_sharer ON analytics_links (tenant_id, sharer_id);

-- Which link a click followed: a conversion attributed through its click names only the click.
CREATE TABLE analytics_clicks (
    tenant_id     text NOT NULL,
    click_id      uuid NOT NULL,
    referral_code text NOT NULL,
    PRIMARY KEY (tenant_id, click_id)
);

-- Conversions that carried a code or a click (only those can bind a referee to a link).
CREATE TABLE analytics_conversions (
    tenant_id     text NOT NULL,
    conversion_id uuid NOT NULL,
    converted_at  timestamptz NOT NULL,
    referral_code text,
    click_id      uuid,
    PRIMARY KEY (tenant_id, conversion_id)
);

-- One row per customer and campaign. `generation` is their depth in the campaign's cascade
-- (NULL until known: a customer nobody referred is generation 0, a seeder). It is learnt both
-- from their own attribution (as referee) and from their referees' (as referrer, generation - 1).
CREATE TABLE analytics_customers (
    tenant_id          text NOT NULL,
    campaign_id        text NOT NULL,
    customer_id        text NOT NULL,
    generation         integer CHECK (generation >= 0),
    referrer_id        text,
    bound_by           uuid,   -- the conversion that bound them to their referrer
    bound_path         text,   -- and how: 'click' or 'referral_code'
    signed_up          boolean NOT NULL DEFAULT false,  -- an attributed signup
    purchased          boolean NOT NULL DEFAULT false,  -- an attributed purchase
    segment            text,
    segment_at         timestamptz,  -- when the segment was seen: the earliest one wins
    first_converted_at timestamptz,
    first_shared_at    timestamptz,
    PRIMARY KEY (tenant_id, campaign_id, customer_id)
);
-- Erasure replaces a customer's id wherever it stands.
CREATE INDEX analytics_customers_customer ON analytics_customers (tenant_id, customer_id);
CREATE INDEX analytics_customers_referrer ON analytics_customers (tenant_id, referrer_id)
    WHERE referrer_id IS NOT NULL;

-- Event ids the analytics consumer group has applied. `processed_events` is claimed by
-- attribution's own group for the same events, so this group keeps its own claims.
CREATE TABLE analytics_processed_events (
    event_id     uuid PRIMARY KEY,
    topic        text NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now()
);
