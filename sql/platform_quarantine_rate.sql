-- Share of the broker's messages that went to the quarantine instead of a curated table, per day.
with quarantined as (
    select
        quarantine_date as activity_date,
        count(*) as quarantined
    from landing_quarantine
    where quarantine_date between :first_date and :last_date
    group by quarantine_date
),

curated as (
    select
        event_date as activity_date,
        count(*) as curated
    from curated_events
    where event_date between :first_date and :last_date
    group by event_date
),

days as (
    select activity_date from quarantined
    union distinct
    select activity_date from curated
)

select
    d.activity_date,
    coalesce(q.quarantined, 0) as quarantined,
    coalesce(c.curated, 0) as curated,
    round(
        cast(coalesce(q.quarantined, 0) as double)
        / nullif(coalesce(q.quarantined, 0) + coalesce(c.curated, 0), 0),
        6
    ) as quarantine_rate
from days as d
left join quarantined as q on d.activity_date = q.activity_date
left join curated as c on d.activity_date = c.activity_date
order by d.activity_date asc
