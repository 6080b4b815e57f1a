-- Delay from the producer accepting an event to its curated file being written, per type and hour.
with events as (
    select
        event_type,
        event_date,
        event_hour,
        received_at,
        curated_at
    from curated_events
    where
        event_date between :first_date and :last_date
        and event_time >= :interval_start
        and event_time < :interval_end
),

delays as (
    select
        event_type,
        event_date,
        event_hour,
        date_diff('millisecond', received_at, cast(curated_at at time zone 'UTC' as timestamp(3))) / 1000.0
            as delay_seconds
    from events
)

select
    event_type,
    event_date,
    event_hour,
    count(*) as events,
    round(min(delay_seconds), 3) as min_delay_seconds,
    round(avg(delay_seconds), 3) as avg_delay_seconds,
    round(max(delay_seconds), 3) as max_delay_seconds
from delays
group by event_type, event_date, event_hour
order by event_date asc, event_hour asc, event_type asc
