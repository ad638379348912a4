# Payment, Refund and the webhook inbox arrive with the payments capability (issue 5).
