-- Guild joins vs quits and the net change of membership, per guild, over the interval.
with joins as (
    select
        guild_name,
        fee
    from game_guild_joined
    where
        event_date between :first_date and :last_date
        and event_time >= :interval_start
        and event_time < :interval_end
),

quits as (
    select
        guild_name,
        fee
    from game_guild_quit
    where
        event_date between :first_date and :last_date
        and event_time >= :interval_start
        and event_time < :interval_end
),

join_counts as (
    select
        guild_name,
        count(*) as joins,
        sum(fee) as join_fees
    from joins
    group by guild_name
),

quit_counts as (
    select
        guild_name,
        count(*) as quits,
        sum(fee) as quit_fees
    from quits
    group by guild_name
)

select
    coalesce(j.guild_name, q.guild_name) as guild_name,
    coalesce(j.joins, 0) as joins,
    coalesce(q.quits, 0) as quits,
    coalesce(j.joins, 0) - coalesce(q.quits, 0) as net_membership,
    coalesce(j.join_fees, 0) + coalesce(q.quit_fees, 0) as fees_collected
from join_counts as j
full outer join quit_counts as q on j.guild_name = q.guild_name
order by net_membership desc, guild_name asc
