"""Human sign-off: held calls wait in a durable queue (`queue`), reviewers decide them from the web page
(`web`), the admin API (`api`) or the CLI; reviewers are told by webhook (`notifier`)."""
