"""Scans of sites: schedule, queue, run, results, proposals, retention, alerts, scheduler, tasks.

Every state change is a conditional UPDATE, so any number of schedulers and workers can run
at once against one database:

- a due schedule slot belongs to whoever moves `scan_schedules.next_run_at` on from the value
  it read (and `scans` is unique on (site, scheduled_for) besides);
- a queued scan belongs to whoever sets it `running` with a fresh `claim_token`; the owner
  renews `lease_until` while the browser works, and only the holder of the token may store a
  result, so a scan whose worker died is run again once (or failed after SCAN_MAX_ATTEMPTS),
  and a late result of a worker that lost its lease is thrown away, never stored twice.
"""
