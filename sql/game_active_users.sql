-- Daily active players and new players (first event ever) in the interval.
with game_events as (
    select
        user_id,
        event_time,
        event_date
    from curated_events
    where event_domain = 'game'
),

first_seen as (
    select
        user_id,
        min(event_time) as first_event_time
    from game_events
    where event_date <= :last_date
    group by user_id
),

active as (
    select distinct
        user_id,
        cast(date_trunc('day', event_time) as date) as activity_day
    from game_events
    where
        event_date between :first_date and :last_date
        and event_time >= :interval_start
        and event_time < :interval_end
)

select
    a.activity_day,
    count(*) as active_users,
    count_if(cast(date_trunc('day', f.first_event_time) as date) = a.activity_day) as new_users
from active as a
inner join first_seen as f on a.user_id = f.user_id
group by a.activity_day
order by a.activity_day asc
