;;; port-churn.scm -- the Guile 3.0 peer of the `port-churn` soak benchmark.
;;;
;;; Each iteration opens an output port whose encoding is ISO-8859-15 (so
;;; Guile transcodes through an iconv handle), writes a short line and, in
;;; mode `dropped`, drops it unclosed; `closed` closes every port by hand;
;;; `gc-every` drops it and runs (gc) every iteration (the old workaround).
;;;
;;; Port kinds:
;;;   string  open-output-string + set-port-encoding!: holds an iconv handle
;;;           (released by a finalizer) but, in Guile 3.0, is not in the
;;;           table of open ports.
;;;   file    open-output-file on /dev/null + set-port-encoding!: holds an
;;;           iconv handle and a file descriptor and sits in Guile's weak
;;;           table of open ports (closest to the story).
;;;
;;; A live heap ("ballast") of N MB is kept as a list of N*2^20/16 pairs,
;;; like a server's working set.
;;;
;;; Usage:
;;;   guile-3.0 port-churn.scm \
;;;       MODE PORT-KIND BALLAST-MB DURATION-SECONDS MAX-ITERATIONS SAMPLE-MS
;;; (MAX-ITERATIONS 0 means no limit.)
;;;
;;; Output, one record per line, for the Swift harness to parse:
;;;   sample PORTS SECONDS RSS-BYTES
;;;   result ports=N seconds=S gc_count=N heap_size=B peak_rss=B ballast_cells=N
;;; (gc_count: collections during the churn, not while building the ballast)
;;; Written for this project; facts about Guile 3.0 ports are from its manual
;;; (section "Encoding") and the issue text.

(use-modules (ice-9 rdelim))

(define (status-field name)
  ;; Value of field NAME ("VmRSS:", "VmHWM:") of /proc/self/status, in bytes.
  (call-with-input-file "/proc/self/status"
    (lambda (in)
      (let loop ()
        (let ((line (read-line in)))
          (cond ((eof-object? line) 0)
                ((string-prefix? name line)
                 (* 1024 (string->number
                          (car (string-tokenize
                                (substring line (string-length name)))))))
                (else (loop))))))))

(define args (cdr (command-line)))
(define mode (string->symbol (list-ref args 0)))
(define kind (string->symbol (list-ref args 1)))
(define ballast-mb (string->number (list-ref args 2)))
(define duration (string->number (list-ref args 3)))
(define max-iterations (string->number (list-ref args 4)))
(define sample-ms (string->number (list-ref args 5)))

(unless (memq mode '(dropped closed gc-every))
  (error "mode must be dropped, closed or gc-every" mode))
(unless (memq kind '(string file))
  (error "port kind must be string or file" kind))

;; The ballast: 16 bytes per pair on 64-bit Guile.
(define ballast (make-list (quotient (* ballast-mb 1048576) 16) 0))

(define (open-port!)
  (let ((port (if (eq? kind 'string)
                  (open-output-string)
                  (open-output-file "/dev/null"))))
    (set-port-encoding! port "ISO-8859-15")
    port))

(define line "churn: caf\u00e9 \u20ac 42\n")

(define gc-times-before (assq-ref (gc-stats) 'gc-times))
(define ticks-per-second internal-time-units-per-second)
(define start (get-internal-real-time))
(define deadline (+ start (* duration ticks-per-second)))
(define sample-ticks (quotient (* sample-ms ticks-per-second) 1000))

(define (elapsed-seconds now)
  (exact->inexact (/ (- now start) ticks-per-second)))

(define (sample! ports now)
  (display "sample ")
  (display ports) (display " ")
  (display (elapsed-seconds now)) (display " ")
  (display (status-field "VmRSS:"))
  (newline))

(force-output)
(sample! 0 start)

(let loop ((ports 0) (next-sample (+ start sample-ticks)))
  (define stop? (and (> max-iterations 0) (>= ports max-iterations)))
  (define now (if (or stop? (= 0 (logand ports 63)) (eq? mode 'gc-every))
                  (get-internal-real-time)
                  #f))
  (cond
   ((or stop? (and now (>= now deadline)))
    (let ((end (get-internal-real-time)))
      (sample! ports end)
      (display "result")
      (display " ports=") (display ports)
      (display " seconds=") (display (elapsed-seconds end))
      (display " gc_count=") (display (- (assq-ref (gc-stats) 'gc-times) gc-times-before))
      (display " heap_size=") (display (assq-ref (gc-stats) 'heap-size))
      (display " peak_rss=") (display (status-field "VmHWM:"))
      (display " ballast_cells=") (display (length ballast))
      (newline)))
   (else
    (let ((port (open-port!)))
      (display line port)
      (when (eq? mode 'closed) (close-port port)))
    (when (eq? mode 'gc-every) (gc))
    (if (and now (>= now next-sample))
        (begin (sample! (+ ports 1) now)
               (loop (+ ports 1) (+ now sample-ticks)))
        (loop (+ ports 1) next-sample)))))
