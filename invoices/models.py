# Invoice, InvoiceLine and InvoiceEvent arrive with the invoices capability (issue 3).
