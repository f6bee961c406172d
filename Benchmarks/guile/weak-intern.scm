;;; weak-intern.scm -- the Guile 3.0 peer of `weak-table-bench`'s interning
;;; and weak-table figures.
;;;
;;; Guile interns symbols in a weak set (libguile/weak-set.c: open
;;; addressing, a disappearing link per element, each candidate read under
;;; libgc's allocation lock) and keeps weak-key hash tables the same way.
;;; With a live heap of BALLAST-MB (a list of pairs, as port-churn.scm) and N
;;; names "sym-0" ... "sym-(N-1)" made beforehand, it times:
;;;   intern_miss_insert_ns  string->symbol of each new name (symbols kept)
;;;   intern_hit_ns          string->symbol of each name again, in order
;;;   intern_hit_random_ns   the same in a shuffled order
;;;   weak_insert_ns         hashq-set! into a weak-key hash table, N fresh
;;;                          keys (kept)
;;;   weak_hit_ns            hashq-ref of each key
;;;   gc_ms                  (gc) with the N symbols and N weak entries live
;;;                          (median of 5, wall time)
;;; Each small operation is timed over the whole batch; hits are the best of
;;; 3 batches.
;;;
;;; Usage: guile-3.0 weak-intern.scm N BALLAST-MB
;;; Output, one line for the Swift harness (ChildRecord):
;;;   result key=value ...
;;; Written for this project.

(use-modules (ice-9 format))

(define args (cdr (command-line)))
(define n (string->number (list-ref args 0)))
(define ballast-mb (string->number (list-ref args 1)))

;; The ballast: 16 bytes per pair on 64-bit Guile.
(define ballast (make-list (quotient (* ballast-mb 1048576) 16) 0))

(define (now-ns)
  (* (get-internal-real-time) (/ 1000000000 internal-time-units-per-second)))

(define (ns-per-op count thunk)
  ;; Nanoseconds per operation of THUNK, which does COUNT operations.
  (let ((start (now-ns)))
    (thunk)
    (exact->inexact (/ (- (now-ns) start) count))))

(define (best-of-3 count thunk)
  (min (ns-per-op count thunk) (ns-per-op count thunk) (ns-per-op count thunk)))

(define names (make-vector n))
(do ((i 0 (1+ i))) ((= i n))
  (vector-set! names i (string-append "sym-" (number->string i))))

;; A shuffled order (Fisher-Yates, a fixed seed).
(define order (make-vector n))
(do ((i 0 (1+ i))) ((= i n)) (vector-set! order i i))
(let ((state (seed->random-state 42)))
  (do ((i (1- n) (1- i))) ((< i 1))
    (let* ((j (random (1+ i) state))
           (t (vector-ref order i)))
      (vector-set! order i (vector-ref order j))
      (vector-set! order j t))))

(gc)

(define symbols (make-vector n #f))
(define intern-miss
  (ns-per-op n (lambda ()
                 (do ((i 0 (1+ i))) ((= i n))
                   (vector-set! symbols i (string->symbol (vector-ref names i)))))))

(define intern-hit
  (best-of-3 n (lambda ()
                 (do ((i 0 (1+ i))) ((= i n))
                   (string->symbol (vector-ref names i))))))

(define intern-hit-random
  (best-of-3 n (lambda ()
                 (do ((i 0 (1+ i))) ((= i n))
                   (string->symbol (vector-ref names (vector-ref order i)))))))

(define table (make-weak-key-hash-table))
(define keys (make-vector n))
(do ((i 0 (1+ i))) ((= i n)) (vector-set! keys i (cons i i)))
(define weak-insert
  (ns-per-op n (lambda ()
                 (do ((i 0 (1+ i))) ((= i n))
                   (hashq-set! table (vector-ref keys i) i)))))
(define weak-hit
  (best-of-3 n (lambda ()
                 (do ((i 0 (1+ i))) ((= i n))
                   (hashq-ref table (vector-ref keys i))))))

(define (gc-ms)
  (let ((start (now-ns)))
    (gc)
    (exact->inexact (/ (- (now-ns) start) 1000000))))
(define gc-times (sort (list (gc-ms) (gc-ms) (gc-ms) (gc-ms) (gc-ms)) <))

(format #t "result intern_miss_insert_ns=~,1f intern_hit_ns=~,1f intern_hit_random_ns=~,1f weak_insert_ns=~,1f weak_hit_ns=~,1f gc_ms=~,2f entries=~a ballast_mb=~a~%"
        intern-miss intern-hit intern-hit-random weak-insert weak-hit (list-ref gc-times 2) n ballast-mb)
;; Keep everything alive to the end.
(if (and (vector? symbols) (vector? keys) (pair? ballast) (hash-table? table)) #t #f)
