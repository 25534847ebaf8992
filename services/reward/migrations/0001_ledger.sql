-- reward's double-entry ledger. Balances are integers in minor units per currency.
-- A campaign budget can never go negative: the CHECK holds even if the Python check is wrong.

CREATE TABLE campaign_rules (
    tenant_id             text NOT NULL,
    campaign_id           text NOT NULL,
    status                text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'paused', 'ended')),
    referrer_reward_minor bigint NOT NULL CHECK (referrer_reward_minor >= 0),
    reward_kind           text NOT NULL,
    budget_minor          bigint NOT NULL CHECK (budget_minor >= 0),
    PRIMARY KEY (tenant_id, campaign_id)
);

CREATE TABLE accounts (
    account_id bigserial PRIMARY KEY,
    tenant_id  text NOT NULL,
    kind       text NOT NULL CHECK (kind IN ('funding', 'campaign_budget', 'customer_rewards')),
    owner_id   text NOT NULL,
    currency   char(3) NOT NULL,
    balance    bigint NOT NULL DEFAULT 0,
    UNIQUE (tenant_id, kind, owner_id, currency),
    CONSTRAINT budget_never_negative CHECK (kind <> 'campaign_budget' OR balance >= 0)
);

CREATE TABLE ledger_transactions (
    tx_id           uuid PRIMARY KEY,
    tenant_id       text NOT NULL,
    idempotency_key text NOT NULL,
    kind            text NOT NULL CHECK (kind IN ('budget_funded', 'reward_granted')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, idempotency_key)
);

CREATE TABLE ledger_entries (
    tx_id      uuid NOT NULL REFERENCES ledger_transactions,
    account_id bigint NOT NULL REFERENCES accounts,
    amount     bigint NOT NULL,
    PRIMARY KEY (tx_id, account_id)
);

CREATE TABLE rewards (
    reward_id       uuid PRIMARY KEY,
    tenant_id       text NOT NULL,
    idempotency_key text NOT NULL,
    campaign_id     text NOT NULL,
    conversion_id   uuid NOT NULL,
    rule_id         text NOT NULL,
    recipient_id    text NOT NULL,
    role            text NOT NULL,
    kind            text NOT NULL,
    amount_minor    bigint NOT NULL CHECK (amount_minor >= 0),
    currency        char(3) NOT NULL,
    generation      integer NOT NULL,
    status          text NOT NULL CHECK (status IN ('pending', 'confirmed', 'revoked', 'declined')),
    decline_reason  text,
    tx_id           uuid REFERENCES ledger_transactions,
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, idempotency_key)
);
CREATE INDEX rewards_recipient ON rewards (tenant_id, recipient_id);
CREATE INDEX rewards_campaign ON rewards (tenant_id, campaign_id);
