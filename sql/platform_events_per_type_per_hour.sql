-- Events per type and hour of event time over the interval (every curated table: curated_events).
with events as (
    select
        event_type,
        event_date,
        event_hour,
        user_id
    from curated_events
    where
        event_date between :first_date and :last_date
        and event_time >= :interval_start
        and event_time < :interval_end
)

select
    event_type,
    event_date,
    event_hour,
    count(*) as events,
    count(distinct user_id) as users
from events
group by event_type, event_date, event_hour
order by event_date asc, event_hour asc, event_type asc
