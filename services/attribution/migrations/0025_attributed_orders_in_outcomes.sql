-- An attributed conversion's order id was written twice: in its outcome, and in attributed_orders
-- (a heap row and a primary key, inserted speculatively under ON CONFLICT), which the duplicate-order
-- rule looked up. A partial index on the outcomes answers the same question: the table's rows and
-- its conflict check are gone from every attributed purchase.
--
-- The first attributed conversion of an order stays its owner: attributed_orders kept the first
-- writer, and the lookup now takes the earliest decided. Two can only both be attributed when two
-- instances decide them in the same instant, as before.
UPDATE conversion_outcomes o SET order_id = a.order_id
FROM attributed_orders a
WHERE o.tenant_id = a.tenant_id AND o.conversion_id = a.conversion_id AND o.order_id IS NULL;
CREATE INDEX conversion_outcomes_attributed_order ON conversion_outcomes (tenant_id, order_id)
    WHERE outcome = 'attributed' AND order_id IS NOT NULL;
DROP TABLE attributed_orders;
