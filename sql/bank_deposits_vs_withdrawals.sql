-- Deposits vs withdrawals, count and money, per currency, over the interval.
with movements as (
    select
        currency,
        amount,
        'deposit' as direction
    from bank_deposited
    where
        event_date between :first_date and :last_date
        and event_time >= :interval_start
        and event_time < :interval_end
    union all
    select
        currency,
        amount,
        'withdrawal' as direction
    from bank_withdrawn
    where
        event_date between :first_date and :last_date
        and event_time >= :interval_start
        and event_time < :interval_end
)

select
    currency,
    count_if(direction = 'deposit') as deposits,
    coalesce(sum(amount) filter (where direction = 'deposit'), 0) as deposited_amount,
    count_if(direction = 'withdrawal') as withdrawals,
    coalesce(sum(amount) filter (where direction = 'withdrawal'), 0) as withdrawn_amount,
    coalesce(sum(amount) filter (where direction = 'deposit'), 0)
    - coalesce(sum(amount) filter (where direction = 'withdrawal'), 0) as net_amount
from movements
group by currency
order by currency asc
