-- Net money flow (deposits minus withdrawals) per customer and currency, over the interval.
with movements as (
    select
        user_id,
        currency,
        amount as signed_amount
    from bank_deposited
    where
        event_date between :first_date and :last_date
        and event_time >= :interval_start
        and event_time < :interval_end
    union all
    select
        user_id,
        currency,
        -amount as signed_amount
    from bank_withdrawn
    where
        event_date between :first_date and :last_date
        and event_time >= :interval_start
        and event_time < :interval_end
)

select
    user_id,
    currency,
    count(*) as movements,
    coalesce(sum(signed_amount) filter (where signed_amount > 0), 0) as deposited,
    coalesce(-sum(signed_amount) filter (where signed_amount < 0), 0) as withdrawn,
    sum(signed_amount) as net_flow
from movements
group by user_id, currency
order by net_flow desc, user_id asc, currency asc
