//! DST gaps and overlaps (C-16): robfig/cron steps hours/minutes with
//! absolute `Time.Add` and days/months with `time.Date`, so a run inside a
//! spring-forward gap is skipped (hour-stepping never sees that wall hour),
//! a run inside an autumn overlap happens twice, and Go's normalisation of
//! non-existent local midnights decides where a day starts.

mod common;

next_cases! {
    // America/New_York, 2012-03-11 02:00 EST → 03:00 EDT.
    ny_spring_yearly_gap_slot_moves_to_next_year: ("30 2 11 Mar *", "America/New_York", "2012-03-11T00:00:00-05:00") => "2013-03-11T02:30:00-04:00";
    ny_spring_hourly_before_gap: ("0 * * * *", "America/New_York", "2012-03-11T00:00:00-05:00") => "2012-03-11T01:00:00-05:00";
    ny_spring_hourly_jumps_gap: ("0 * * * *", "America/New_York", "2012-03-11T01:00:00-05:00") => "2012-03-11T03:00:00-04:00";
    ny_spring_hourly_after_gap: ("0 * * * *", "America/New_York", "2012-03-11T03:00:00-04:00") => "2012-03-11T04:00:00-04:00";
    ny_spring_1am_nightly: ("0 1 * * *", "America/New_York", "2012-03-11T01:00:00-05:00") => "2012-03-12T01:00:00-04:00";
    ny_spring_2am_nightly_skipped: ("0 2 * * *", "America/New_York", "2012-03-11T00:00:00-05:00") => "2012-03-12T02:00:00-04:00";
    ny_spring_230_skipped: ("30 2 * * *", "America/New_York", "2025-03-09T00:00:00-05:00") => "2025-03-10T02:30:00-04:00";
    ny_spring_3am_runs: ("0 3 * * *", "America/New_York", "2025-03-09T00:00:00-05:00") => "2025-03-09T03:00:00-04:00";
    ny_spring_every_minute_jumps: ("* * * * *", "America/New_York", "2025-03-09T01:59:00-05:00") => "2025-03-09T03:00:00-04:00";
    ny_spring_every_5_minutes_jumps: ("*/5 * * * *", "America/New_York", "2025-03-09T01:58:00-05:00") => "2025-03-09T03:00:00-04:00";
    // America/New_York, 2012-11-04 02:00 EDT → 01:00 EST.
    ny_autumn_230_once: ("30 2 4 Nov *", "America/New_York", "2012-11-04T00:00:00-04:00") => "2012-11-04T02:30:00-05:00";
    ny_autumn_130_second_pass: ("30 1 4 Nov *", "America/New_York", "2012-11-04T01:45:00-04:00") => "2012-11-04T01:30:00-05:00";
    ny_autumn_hourly_first_1am: ("0 * * * *", "America/New_York", "2012-11-04T00:00:00-04:00") => "2012-11-04T01:00:00-04:00";
    ny_autumn_hourly_second_1am: ("0 * * * *", "America/New_York", "2012-11-04T01:00:00-04:00") => "2012-11-04T01:00:00-05:00";
    ny_autumn_hourly_after_overlap: ("0 * * * *", "America/New_York", "2012-11-04T01:00:00-05:00") => "2012-11-04T02:00:00-05:00";
    ny_autumn_1am_runs_twice_first: ("0 1 * * *", "America/New_York", "2012-11-04T00:00:00-04:00") => "2012-11-04T01:00:00-04:00";
    ny_autumn_1am_runs_twice_second: ("0 1 * * *", "America/New_York", "2012-11-04T01:00:00-04:00") => "2012-11-04T01:00:00-05:00";
    ny_autumn_1am_then_next_day: ("0 1 * * *", "America/New_York", "2012-11-04T01:00:00-05:00") => "2012-11-05T01:00:00-05:00";
    ny_autumn_2am_once: ("0 2 * * *", "America/New_York", "2012-11-04T00:00:00-04:00") => "2012-11-04T02:00:00-05:00";
    ny_autumn_2am_next_day: ("0 2 * * *", "America/New_York", "2012-11-04T02:00:00-05:00") => "2012-11-05T02:00:00-05:00";
    ny_autumn_3am: ("0 3 * * *", "America/New_York", "2012-11-04T00:00:00-04:00") => "2012-11-04T03:00:00-05:00";
    ny_autumn_monthly_3rd: ("0 3 3 * *", "America/New_York", "2012-11-04T00:00:00-04:00") => "2012-12-03T03:00:00-05:00";
    ny_autumn_every_30_min_repeats: ("*/30 * * * *", "America/New_York", "2025-11-02T01:30:00-04:00") => "2025-11-02T01:00:00-05:00";
    ny_daily_across_spring: ("@daily", "America/New_York", "2025-03-09T00:00:00-05:00") => "2025-03-10T00:00:00-04:00";
    // America/Sao_Paulo 2018: midnight did not exist on 2018-11-04.
    sao_paulo_day_loop_over_missing_midnight: ("0 9 10 * *", "America/Sao_Paulo", "2018-10-17T05:00:00-04:00") => "2018-11-10T09:00:00-02:00";
    sao_paulo_feb_22: ("0 9 22 * *", "America/Sao_Paulo", "2018-02-14T05:00:00-05:00") => "2018-02-22T09:00:00-03:00";
    // The day loop lands on 01:00 (no midnight), the hour loop then wants
    // hour 0 and steps on to the next day: the gap day's run is lost, and
    // Brazil had no DST in 2019.
    sao_paulo_midnight_on_gap_day_lost: ("0 0 4 11 *", "America/Sao_Paulo", "2018-10-01T00:00:00-03:00") => "2019-11-04T00:00:00-03:00";
    sao_paulo_daily_skips_gap_day: ("@daily", "America/Sao_Paulo", "2018-11-03T12:00:00-03:00") => "2018-11-05T00:00:00-02:00";
}

next_cases! {
    // Europe/London, 2025-03-30 01:00 GMT → 02:00 BST; 2025-10-26 02:00 BST → 01:00 GMT.
    london_spring_0130_skipped: ("30 1 * * *", "Europe/London", "2025-03-30T00:00:00Z") => "2025-03-31T01:30:00+01:00";
    london_spring_daily_midnight_exists: ("@daily", "Europe/London", "2025-03-29T12:00:00Z") => "2025-03-30T00:00:00Z";
    london_spring_hourly_jumps: ("0 * * * *", "Europe/London", "2025-03-30T00:30:00Z") => "2025-03-30T02:00:00+01:00";
    london_autumn_0130_first: ("30 1 * * *", "Europe/London", "2025-10-26T00:00:00+01:00") => "2025-10-26T01:30:00+01:00";
    london_autumn_0130_again_in_gmt: ("30 1 * * *", "Europe/London", "2025-10-26T01:30:00+01:00") => "2025-10-26T01:30:00Z";
    london_autumn_0130_then_next_day: ("30 1 * * *", "Europe/London", "2025-10-26T01:30:00Z") => "2025-10-27T01:30:00Z";
    london_autumn_0100_twice: ("0 1 * * *", "Europe/London", "2025-10-26T01:00:00+01:00") => "2025-10-26T01:00:00Z";
    london_autumn_0200_once: ("0 2 * * *", "Europe/London", "2025-10-26T00:00:00+01:00") => "2025-10-26T02:00:00Z";
    london_autumn_quarter_hours_repeat: ("*/15 * * * *", "Europe/London", "2025-10-26T01:45:00+01:00") => "2025-10-26T01:00:00Z";
    // Europe/Berlin, 2025-03-30 02:00 CET → 03:00 CEST; 2025-10-26 03:00 CEST → 02:00 CET.
    berlin_spring_0230_skipped: ("30 2 * * *", "Europe/Berlin", "2025-03-29T12:00:00Z") => "2025-03-31T02:30:00+02:00";
    berlin_spring_0200_skipped: ("0 2 * * *", "Europe/Berlin", "2025-03-30T00:00:00+01:00") => "2025-03-31T02:00:00+02:00";
    berlin_spring_0300_runs: ("0 3 * * *", "Europe/Berlin", "2025-03-30T00:00:00+01:00") => "2025-03-30T03:00:00+02:00";
    berlin_spring_weekday_midnight: ("0 0 * * 1-5", "Europe/Berlin", "2025-03-28T00:00:00+01:00") => "2025-03-31T00:00:00+02:00";
    berlin_spring_every_minute_jumps: ("* * * * *", "Europe/Berlin", "2025-03-30T01:59:30+01:00") => "2025-03-30T03:00:00+02:00";
    berlin_autumn_0230_first: ("30 2 * * *", "Europe/Berlin", "2025-10-26T00:00:00+02:00") => "2025-10-26T02:30:00+02:00";
    berlin_autumn_0230_again: ("30 2 * * *", "Europe/Berlin", "2025-10-26T02:30:00+02:00") => "2025-10-26T02:30:00+01:00";
    berlin_autumn_0230_next_day: ("30 2 * * *", "Europe/Berlin", "2025-10-26T02:30:00+01:00") => "2025-10-27T02:30:00+01:00";
    berlin_autumn_hourly_repeats_2am: ("0 * * * *", "Europe/Berlin", "2025-10-26T02:00:00+02:00") => "2025-10-26T02:00:00+01:00";
    berlin_autumn_0300_once: ("0 3 * * *", "Europe/Berlin", "2025-10-26T02:30:00+01:00") => "2025-10-26T03:00:00+01:00";
    berlin_monthly_over_spring: ("0 2 30 * *", "Europe/Berlin", "2025-03-01T00:00:00+01:00") => "2025-04-30T02:00:00+02:00";
    // Australia/Lord_Howe: +10:30 standard, +11 summer; half-hour shifts.
    // 2025-10-05 02:00 → 02:30 (gap 02:00-02:29); 2025-04-06 02:00 → 01:30.
    lord_howe_spring_0215_skipped: ("15 2 * * *", "Australia/Lord_Howe", "2025-10-05T00:00:00+10:30") => "2025-10-06T02:15:00+11:00";
    lord_howe_spring_0200_skipped: ("0 2 * * *", "Australia/Lord_Howe", "2025-10-05T00:00:00+10:30") => "2025-10-06T02:00:00+11:00";
    lord_howe_spring_0230_first_existing: ("30 2 * * *", "Australia/Lord_Howe", "2025-10-05T00:00:00+10:30") => "2025-10-05T02:30:00+11:00";
    lord_howe_spring_0245_same_day: ("45 2 * * *", "Australia/Lord_Howe", "2025-10-05T00:00:00+10:30") => "2025-10-05T02:45:00+11:00";
    lord_howe_spring_hourly_lands_half_past: ("0 * * * *", "Australia/Lord_Howe", "2025-10-05T01:00:00+10:30") => "2025-10-05T03:00:00+11:00";
    lord_howe_autumn_0145_first: ("45 1 * * *", "Australia/Lord_Howe", "2025-04-06T00:00:00+11:00") => "2025-04-06T01:45:00+11:00";
    lord_howe_autumn_0145_again: ("45 1 * * *", "Australia/Lord_Howe", "2025-04-06T01:45:00+11:00") => "2025-04-06T01:45:00+10:30";
    lord_howe_autumn_0115_once: ("15 1 * * *", "Australia/Lord_Howe", "2025-04-06T01:15:00+11:00") => "2025-04-07T01:15:00+10:30";
    lord_howe_autumn_half_hours_repeat: ("0,30 * * * *", "Australia/Lord_Howe", "2025-04-06T01:30:00+11:00") => "2025-04-06T01:30:00+10:30";
    lord_howe_autumn_after_repeat: ("0,30 * * * *", "Australia/Lord_Howe", "2025-04-06T01:30:00+10:30") => "2025-04-06T02:00:00+10:30";
    lord_howe_daily: ("@daily", "Australia/Lord_Howe", "2025-10-04T12:00:00+10:30") => "2025-10-05T00:00:00+10:30";
    // Pacific/Chatham: +12:45 standard, +13:45 summer.
    // 2025-09-28 02:45 → 03:45 (gap); 2025-04-06 03:45 → 02:45 (overlap).
    chatham_spring_0300_skipped: ("0 3 * * *", "Pacific/Chatham", "2025-09-28T00:00:00+12:45") => "2025-09-29T03:00:00+13:45";
    chatham_spring_0250_fires_at_0350: ("50 2 * * *", "Pacific/Chatham", "2025-09-28T00:00:00+12:45") => "2025-09-28T03:50:00+13:45";
    chatham_spring_0230_before_gap: ("30 2 * * *", "Pacific/Chatham", "2025-09-28T00:00:00+12:45") => "2025-09-28T02:30:00+12:45";
    chatham_spring_hourly: ("0 * * * *", "Pacific/Chatham", "2025-09-28T02:00:00+12:45") => "2025-09-28T04:00:00+13:45";
    chatham_autumn_0300_first: ("0 3 * * *", "Pacific/Chatham", "2025-04-06T00:00:00+13:45") => "2025-04-06T03:00:00+13:45";
    chatham_autumn_0300_again: ("0 3 * * *", "Pacific/Chatham", "2025-04-06T03:00:00+13:45") => "2025-04-06T03:00:00+12:45";
    chatham_autumn_0300_next_day: ("0 3 * * *", "Pacific/Chatham", "2025-04-06T03:00:00+12:45") => "2025-04-07T03:00:00+12:45";
    // 02:45-03:44 repeats, but after 02:59 the minute loop reaches 03:00 and
    // hours step on from there: 02:50 runs once.
    chatham_autumn_0250_once: ("50 2 * * *", "Pacific/Chatham", "2025-04-06T02:50:00+13:45") => "2025-04-07T02:50:00+12:45";
    chatham_weekly: ("@weekly", "Pacific/Chatham", "2025-01-01T00:00:00Z") => "2025-01-05T00:00:00+13:45";
    // Asia/Kathmandu: +05:45 since 1986 (was +05:30; 1986-01-01 00:00 → 00:15).
    kathmandu_daily: ("0 9 * * *", "Asia/Kathmandu", "2025-01-01T00:00:00Z") => "2025-01-01T09:00:00+05:45";
    kathmandu_hourly: ("0 * * * *", "Asia/Kathmandu", "2025-01-01T00:00:00Z") => "2025-01-01T06:00:00+05:45";
    kathmandu_1986_midnight_missing: ("@daily", "Asia/Kathmandu", "1985-12-31T12:00:00+05:30") => "1986-01-02T00:00:00+05:45";
    kathmandu_1986_0015_first_minute: ("15 0 * * *", "Asia/Kathmandu", "1985-12-31T12:00:00+05:30") => "1986-01-01T00:15:00+05:45";
    kathmandu_1986_last_minute_before: ("59 23 * * *", "Asia/Kathmandu", "1985-12-31T12:00:00+05:30") => "1985-12-31T23:59:00+05:30";
    // Asia/Kolkata (no DST, +05:30) for contrast.
    kolkata_monthly: ("@monthly", "Asia/Kolkata", "2025-01-15T00:00:00Z") => "2025-02-01T00:00:00+05:30";
    // Local mean time with a seconds part (New York LMT −4:56:02): Go's
    // Truncate(time.Minute) works on absolute time, so minutes start at :58s
    // local until the second loop walks to :00.
    new_york_lmt_every_5_minutes: ("*/5 * * * *", "America/New_York", "1850-01-01T12:00:00Z") => "1850-01-01T07:10:00-04:56";
    new_york_from_go_zero_time: ("0 0 * * *", "America/New_York", "0001-01-01T00:00:00Z") => "0001-01-01T00:00:00-04:56";
}
