-- Accounts opened vs closed per day, and how many of the day's new accounts were closed again.
with opened as (
    select
        account_id,
        event_time,
        cast(date_trunc('day', event_time) as date) as activity_day
    from bank_account_opened
    where
        event_date between :first_date and :last_date
        and event_time >= :interval_start
        and event_time < :interval_end
),

closed as (
    select
        account_id,
        event_time,
        cast(date_trunc('day', event_time) as date) as activity_day
    from bank_account_closed
    where
        event_date between :first_date and :last_date
        and event_time >= :interval_start
        and event_time < :interval_end
),

days as (
    select activity_day from opened
    union distinct
    select activity_day from closed
),

opened_per_day as (
    select
        activity_day,
        count(*) as accounts_opened
    from opened
    group by activity_day
),

closed_per_day as (
    select
        activity_day,
        count(*) as accounts_closed
    from closed
    group by activity_day
),

-- An account opened at t was closed again iff its last closing in the interval is at or after t:
-- one row per account to join against, instead of every (opening, closing) pair.
last_closed as (
    select
        account_id,
        max(event_time) as last_closed_time
    from closed
    group by account_id
),

closed_again_per_day as (
    select
        o.activity_day,
        count(distinct o.account_id) as opened_then_closed
    from opened as o
    inner join last_closed as c on o.account_id = c.account_id and o.event_time <= c.last_closed_time
    group by o.activity_day
)

select
    d.activity_day,
    coalesce(op.accounts_opened, 0) as accounts_opened,
    coalesce(cl.accounts_closed, 0) as accounts_closed,
    coalesce(op.accounts_opened, 0) - coalesce(cl.accounts_closed, 0) as net_accounts,
    coalesce(ca.opened_then_closed, 0) as opened_then_closed
from days as d
left join opened_per_day as op on d.activity_day = op.activity_day
left join closed_per_day as cl on d.activity_day = cl.activity_day
left join closed_again_per_day as ca on d.activity_day = ca.activity_day
order by d.activity_day asc
